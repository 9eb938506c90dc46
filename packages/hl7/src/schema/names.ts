// IRIS-compatible symbolic names for schema elements, so that `@li/engine`'s IRIS path resolver can
// read paths such as `PIDgrpgrp(1).ORCgrp(1).OBR:UniversalServiceIdentifier.Identifier`.
//
// Rules (checked against InterSystems' documentation and public IRIS productions; docs/schemas.md):
// - A field or component is named after its description with every character that is not a
//   letter or digit removed, case kept: "Patient Identifier List" → PatientIdentifierList,
//   "Source of Comment" → SourceofComment, "Set ID - PID" → SetIDPID.
// - A group is named after its first child plus "grp": a group starting with PID is PIDgrp, one
//   starting with the group PIDgrp is PIDgrpgrp, one starting with the choice OBRunion is
//   OBRuniongrp. A choice `<OBR|RQD|…>` is named after its first alternative plus "union".
// - Two sibling groups that would get the same name are told apart by a numeric suffix on the
//   later ones (PIDgrp, PIDgrp2). IRIS's own rule for that case was not found in public sources.
import type { StructureNode } from './types.js'

/** The IRIS property name for a field or component description, e.g. "PatientIdentifierList". */
export function irisName(description: string): string {
  const name = description.replace(/[^A-Za-z0-9]+/g, '')
  return name.charAt(0).toUpperCase() + name.slice(1)
}

/** The IRIS name of a node as its parent group would use it for naming: segment ID or group name. */
export function nodeName(node: StructureNode): string {
  return node.kind === 'segment' ? node.segment : node.name
}

/** The IRIS name for a group whose children are given, before de-duplication among siblings. */
export function groupName(children: readonly StructureNode[], choice: boolean): string {
  const first = children[0]
  const base = first === undefined ? 'Empty' : nodeName(first)
  return choice ? `${base}union` : `${base}grp`
}

/** Renames groups in place so that sibling groups have distinct names (suffix 2, 3, …). */
export function dedupeGroupNames(children: StructureNode[]): void {
  const seen = new Map<string, number>()
  for (const child of children) {
    if (child.kind !== 'group') continue
    const n = (seen.get(child.name) ?? 0) + 1
    seen.set(child.name, n)
    if (n > 1) child.name = `${child.name}${n}`
  }
}
