// Deterministic corpus generator for the parse benchmark.
//
// generateCorpus(seed, count) returns `count` HL7 v2 messages (ADT, ORU with up to 90 OBX, ORM,
// SIU) with escapes, repetitions, subcomponents, Z-segments, long OBX text and UTF-8 names, plus,
// for each message, the ground truth of the fields the benchmark reads: MSH-9.1, MSH-9.2, PID-3.1,
// PID-5.1 and every OBX-5.1, as decoded text (escape sequences resolved, formatting commands such
// as \.br\ kept as written). The generator escapes values with its own code, independent of the
// library under test, so that the ground truth is not derived from the parser it checks.
//
// Same seed, same corpus: the PRNG is mulberry32, seeded explicitly; no Date.now, no Math.random.

/** mulberry32: a small, fast, seedable 32-bit PRNG. */
function prng(seed) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

// Escapes a decoded value for the standard delimiters |^~\& (HL7 v2.5.1 section 2.7).
function esc(value) {
  let out = ''
  for (const ch of value) {
    if (ch === '\\') out += '\\E\\'
    else if (ch === '|') out += '\\F\\'
    else if (ch === '^') out += '\\S\\'
    else if (ch === '&') out += '\\T\\'
    else if (ch === '~') out += '\\R\\'
    else out += ch
  }
  return out
}

const FAMILY = [
  'Smith',
  'Jones',
  'Williams',
  'Taylor',
  'Brown',
  'Davies',
  'Evans',
  'Wilson',
  'Thomas',
  'Roberts',
  'Johnson',
  'Lewis',
  'Walker',
  'Robinson',
  'Wood',
  'Thompson',
  'White',
  'Watson',
  'Jackson',
  'Wright',
  "O'Brien",
  'Müller',
  'Nuñez',
  'Dvořák',
  'Kowalczyk',
  'Nguyễn',
  'Ó Súilleabháin',
  'Øvergård',
  'Smith & Jones',
  'Brown-Ćosić',
  'Patel',
  'Khan',
  'Begum',
  'MacDonald',
  'Lefèvre',
]
const GIVEN = [
  'Oliver',
  'George',
  'Amelia',
  'Isla',
  'Noah',
  'Zoë',
  'Siobhán',
  'Łukasz',
  'François',
  'Øyvind',
  'Ngọc',
  'Chloé',
  'Mohammed',
  'Aoife',
  'Jürgen',
  'Ffion',
  'Rhys',
  'Amir',
  'Priya',
  'Sinéad',
]
const TITLES = ['Mr', 'Mrs', 'Ms', 'Miss', 'Dr', 'Mx']
const STREETS = [
  'Acacia Avenue',
  'High Street',
  'Station Road',
  'Church Lane',
  'Mill Way',
  'The Green',
]
const TOWNS = ['Reading', 'Leeds', 'Bristol', 'Cardiff', 'Norwich', 'York', 'Exeter', 'Bangor']
const WARDS = ['WARD1', 'WARD7', 'AMU', 'ITU', 'CCU', 'MAT2', 'PAEDS', 'DAYSURG']
const TESTS = [
  ['718-7', 'Haemoglobin', 'g/L', '115-165'],
  ['789-8', 'Red cell count', '10*12/L', '3.8-5.8'],
  ['6690-2', 'White cell count', '10*9/L', '4.0-11.0'],
  ['777-3', 'Platelets', '10*9/L', '150-400'],
  ['2951-2', 'Sodium', 'mmol/L', '133-146'],
  ['2823-3', 'Potassium', 'mmol/L', '3.5-5.3'],
  ['2160-0', 'Creatinine', 'umol/L', '59-104'],
  ['3094-0', 'Urea', 'mmol/L', '2.5-7.8'],
  ['1751-7', 'Albumin', 'g/L', '35-50'],
  ['1988-5', 'CRP', 'mg/L', '0-5'],
  ['2345-7', 'Glucose', 'mmol/L', '3.0-7.8'],
  ['4548-4', 'HbA1c', 'mmol/mol', '20-41'],
]
const WORDS = (
  'the patient was seen on the ward and reviewed by the registrar with no acute distress noted ' +
  'chest clear heart sounds normal abdomen soft non tender plan to continue current management ' +
  'bloods repeated in the morning discussed with family who agree & understand ratio 3:1 ' +
  'temperature 37.2 pulse 88 regular blood pressure 128/76 saturations 97% on air'
).split(' ')

/**
 * Generates `count` messages from `seed`.
 * @returns {{ text: string, truth: { type: string, trigger: string, pid3: string, pid5: string, obx: string[] } }[]}
 */
export function generateCorpus(seed = 20260315, count = 10_000) {
  const rnd = prng(seed)
  const int = (lo, hi) => lo + Math.floor(rnd() * (hi - lo + 1))
  const pick = (xs) => xs[Math.floor(rnd() * xs.length)]
  const digits = (n) => {
    let s = String(int(1, 9))
    while (s.length < n) s += String(int(0, 9))
    return s
  }
  const ts = () =>
    `2026${String(int(1, 12)).padStart(2, '0')}${String(int(1, 28)).padStart(2, '0')}` +
    `${String(int(0, 23)).padStart(2, '0')}${String(int(0, 59)).padStart(2, '0')}${String(int(0, 59)).padStart(2, '0')}`
  const sentence = (n) => {
    const words = []
    for (let i = 0; i < n; i++) words.push(pick(WORDS))
    return words.join(' ')
  }
  let control = 0

  function msh(type, trigger, structure) {
    control++
    const app = pick(['PAS', 'WINPATH', 'ICE', 'RIS', 'EPR', 'TQUEST'])
    return (
      `MSH|^~\\&|${app}|RXH^Royal Example Hospital^L|EPR|RXH|${ts()}+0000||${type}^${trigger}^${structure}|` +
      `${app}${String(control).padStart(10, '0')}|P|${pick(['2.3', '2.4', '2.5', '2.5.1'])}|||AL|NE|GBR|UNICODE UTF-8`
    )
  }

  // PID with repeated identifiers (NHS number + MRN), an escaped family name, phones, address.
  function pid(truth) {
    const nhs = digits(10)
    const family = pick(FAMILY)
    const given = pick(GIVEN)
    truth.pid3 = nhs
    truth.pid5 = family
    const ids = [`${nhs}^^^NHS^NH`, `RXH${digits(7)}^^^RXH^MR`]
    if (rnd() < 0.3) ids.push(`${digits(8)}^^^GP^PI`)
    return (
      `PID|1||${ids.join('~')}||${esc(family)}^${esc(given)}^${esc(pick(GIVEN))}^^${pick(TITLES)}||` +
      `19${int(20, 99)}${String(int(1, 12)).padStart(2, '0')}${String(int(1, 28)).padStart(2, '0')}|${pick(['F', 'M', 'U'])}|||` +
      `${int(1, 200)} ${pick(STREETS)}^Flat ${int(1, 9)}^${pick(TOWNS)}^^RG${int(1, 9)} ${int(1, 9)}AA^GBR^H||` +
      `0118${digits(7)}^PRN^PH~07700${digits(6)}^PRN^CP|||${pick(['M', 'S', 'D', 'W'])}|C of E|||||${pick(['A', 'B', 'C', 'Z'])}||||||||N|`
    )
  }

  function pv1() {
    const ward = pick(WARDS)
    return (
      `PV1|1|${pick(['I', 'O', 'E'])}|RXH^${ward}^BED${int(1, 30)}^RXH^^^^^${esc(`${ward} & Day Unit`)}||||` +
      `C${digits(7)}^${esc(pick(FAMILY))}^${pick(GIVEN)}^^^Dr^^^GMC|||${pick(['110', '300', '420'])}|||||||` +
      `C${digits(7)}^${esc(pick(FAMILY))}^${pick(GIVEN)}^^^Dr|01|V${digits(10)}^^^RXH^VN|||||||||||||||||||||||||${ts()}|`
    )
  }

  function adt(truth) {
    const trigger = pick(['A01', 'A02', 'A03', 'A04', 'A08', 'A28'])
    truth.type = 'ADT'
    truth.trigger = trigger
    const segs = [
      msh('ADT', trigger, 'ADT_A01'),
      `EVN|${trigger}|${ts()}|||JBLOGGS^Bloggs^Joe^^^Dr^^^NHSSTAFF|${ts()}`,
    ]
    segs.push(pid(truth))
    segs.push(
      `PD1|||${pick(['Abbey Surgery', 'Park Medical Centre', 'The Health Centre'])}^^K8${digits(4)}|G${digits(7)}^${esc(pick(FAMILY))}^${pick(GIVEN)}^^^Dr|`,
    )
    for (let i = 1, n = int(0, 3); i <= n; i++) {
      segs.push(
        `NK1|${i}|${esc(pick(FAMILY))}^${esc(pick(GIVEN))}|${pick(['SPO^Spouse', 'CHD^Child', 'PAR^Parent'])}^HL70063|${int(1, 99)} ${pick(STREETS)}^^${pick(TOWNS)}|0118${digits(7)}|`,
      )
    }
    segs.push(pv1())
    segs.push(`PV2|||${esc(sentence(int(2, 6)))}^^^^|`)
    for (let i = 1, n = int(0, 4); i <= n; i++) {
      segs.push(
        `AL1|${i}|${pick(['DA', 'FA', 'EA'])}|^${pick(['Penicillin', 'Peanuts', 'Latex', 'Codeine'])}^^^|${pick(['SV', 'MO', 'MI'])}|${esc(sentence(int(1, 4)))}`,
      )
    }
    for (let i = 1, n = int(0, 3); i <= n; i++) {
      segs.push(
        `DG1|${i}||${pick(['I10', 'E11.9', 'J45.9', 'K35.8'])}^${esc(sentence(int(2, 4)))}^I10|||${pick(['A', 'W', 'F'])}`,
      )
    }
    segs.push(
      `ZPD|1|${esc(pick(['Interpreter required', 'Wheelchair user', 'Hearing impaired & lip reads']))}|${pick(['Irish', 'Welsh', 'Polish'])}^${pick(['Gaelic', 'Cymraeg', 'Polski'])}||`,
    )
    if (rnd() < 0.5) segs.push(`ZPV|RXH^${pick(WARDS)}|""|${esc(sentence(int(3, 10)))}|`)
    return segs
  }

  // One OBX; returns [segment, decoded OBX-5.1].
  function obx(i) {
    const kind = rnd()
    if (kind < 0.55) {
      const [code, name, unit, range] = pick(TESTS)
      const value = (rnd() * 300).toFixed(1)
      return [
        `OBX|${i}|NM|${code}^${name}^LN||${value}|${unit}|${range}|${pick(['N', 'H', 'L', 'N'])}|||F|||${ts()}|RXHLAB^Pathology`,
        value,
      ]
    }
    if (kind < 0.75) {
      const text = sentence(int(3, 12))
      return [`OBX|${i}|ST|COMMENT^Comment^L||${esc(text)}||||||F`, text]
    }
    if (kind < 0.9) {
      // Long report text with formatting commands (kept as written) and escapes.
      const lines = []
      for (let k = 0, n = int(3, 12); k < n; k++) lines.push(sentence(int(6, 16)))
      const decoded = lines.join('\\.br\\')
      const encoded = lines.map(esc).join('\\.br\\')
      const second = rnd() < 0.3 ? `~${esc(sentence(4))}` : ''
      return [
        `OBX|${i}|TX|REPORT^Report^L|${int(1, 3)}|${encoded}${second}||||||F|||${ts()}`,
        decoded,
      ]
    }
    const code = digits(9)
    return [
      `OBX|${i}|CWE|ORG^Organism^L||${code}^${esc(pick(['Escherichia coli', 'Staph. aureus', 'No growth']))}^SCT||||||F`,
      code,
    ]
  }

  function oru(truth) {
    truth.type = 'ORU'
    truth.trigger = 'R01'
    const segs = [msh('ORU', 'R01', 'ORU_R01'), pid(truth), pv1()]
    segs.push(`ORC|RE|ORD${digits(6)}^EPR|LAB${digits(6)}^WINPATH||CM`)
    segs.push(
      `OBR|1|ORD${digits(6)}^EPR|LAB${digits(6)}^WINPATH|FBC^Full blood count^L~U+E^Urea and electrolytes^L|||${ts()}|||||||${ts()}|BLD&Blood&HL70070|C${digits(7)}^${esc(pick(FAMILY))}||||||${ts()}|||F`,
    )
    if (rnd() < 0.4) segs.push(`NTE|1|L|${esc(sentence(int(3, 10)))}`)
    // Skewed towards small panels, up to 90 results.
    const n = 1 + Math.floor(rnd() ** 1.9 * 90)
    truth.obx = []
    for (let i = 1; i <= n; i++) {
      const [seg, value] = obx(i)
      segs.push(seg)
      truth.obx.push(value)
    }
    if (rnd() < 0.5) segs.push(`ZLB|RXHLAB|Batch ${digits(4)}^^^^|`)
    return segs
  }

  function orm(truth) {
    truth.type = 'ORM'
    truth.trigger = 'O01'
    const segs = [msh('ORM', 'O01', 'ORM_O01'), pid(truth), pv1()]
    for (let i = 1, n = int(1, 4); i <= n; i++) {
      segs.push(
        `ORC|NW|ICE${digits(6)}^ICE||GRP${digits(4)}|||^^^${ts()}^^R||${ts()}|${esc(pick(FAMILY))}^${pick(GIVEN)}`,
      )
      segs.push(
        `OBR|${i}|ICE${digits(6)}^ICE||${pick(['XCHES^Chest X-ray PA', 'FBC^Full blood count', 'MRIB^MRI Brain'])}^L|||${ts()}||||||${esc(sentence(int(3, 8)))}`,
      )
      if (rnd() < 0.5) segs.push(`NTE|1||${esc(sentence(int(5, 20)))}`)
      segs.push(`DG1|1||${pick(['R07.4', 'S72.0'])}^${esc(sentence(2))}^I10`)
    }
    segs.push(`ZOR|${pick(['URGENT', 'ROUTINE'])}|${esc(sentence(3))}`)
    return segs
  }

  function siu(truth) {
    const trigger = pick(['S12', 'S13', 'S14', 'S15'])
    truth.type = 'SIU'
    truth.trigger = trigger
    const start = ts()
    const segs = [
      msh('SIU', trigger, 'SIU_S12'),
      `SCH|APT${digits(6)}^RIS|||||ROUTINE^Routine^HL70276|||30|min|^^30^${start}^${ts()}|||||||||||||||BOOKED`,
      `NTE|1||${esc(sentence(int(4, 12)))}`,
      pid(truth),
      pv1(),
      'RGS|1',
      `AIS|1||${pick(['MRI^MRI Brain', 'CT^CT Head', 'US^Ultrasound'])}^L|${start}`,
      `AIG|1||${pick(['SCANNER1', 'SCANNER2'])}^Scanner`,
      `AIL|1||RXH^RAD^ROOM${int(1, 9)}`,
      `AIP|1||C${digits(7)}^${esc(pick(FAMILY))}^${pick(GIVEN)}^^^Dr|RAD^Radiologist`,
    ]
    return segs
  }

  const out = []
  for (let i = 0; i < count; i++) {
    const truth = { type: '', trigger: '', pid3: '', pid5: '', obx: [] }
    const r = rnd()
    const segs = r < 0.3 ? adt(truth) : r < 0.78 ? oru(truth) : r < 0.9 ? orm(truth) : siu(truth)
    out.push({ text: segs.join('\r') + '\r', truth })
  }
  return out
}
