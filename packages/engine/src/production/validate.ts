/**
 * Static checks of a production: the findings come back as data (all of them, each naming the
 * item and setting, with the file line when the production was loaded from a file).
 */
import { originOf } from './origin.js'
import { parseReplyCodeActions } from '../iris/reply-code-actions.js'
import { isEngineError } from '../errors.js'
import {
  hostKindOf,
  itemSetting,
  parseIrisBoolean,
  splitList,
  type HostKindResolver,
} from './model.js'
import type { Production, ProductionIssue, ProductionItem, ProductionSetting } from './types.js'

/** Numeric settings and the range each accepts (inclusive). */
const NUMERIC_SETTINGS: Record<string, { min: number; max?: number; integer?: boolean }> = {
  Port: { min: 1, max: 65535, integer: true },
  RetryInterval: { min: 0 },
  FailureTimeout: { min: -1 },
  ConnectTimeout: { min: -1 },
  ResponseTimeout: { min: -1 },
  ReadTimeout: { min: -1 },
  CallInterval: { min: 0 },
  QueueCountAlert: { min: 0, integer: true },
  QueueWaitAlert: { min: 0 },
  AlertGracePeriod: { min: 0 },
  InactivityTimeout: { min: 0 },
  AlertRetryGracePeriod: { min: 0 },
  QSize: { min: 0, integer: true },
  HTTPPort: { min: 1, max: 65535, integer: true },
}

/** The AckMode values IRIS stores. */
const ACK_MODES = new Set(['Never', 'Immed', 'App', 'Msh', 'Byte'])

const NUMBER = /^-?\d+(\.\d+)?$/

/** Options of `validateProduction`. */
export interface ValidateOptions {
  /** The host registry's kind resolver (for the port check). */
  resolveKind?: HostKindResolver
}

/**
 * Checks a production and returns every finding: duplicate item names, unknown
 * TargetConfigNames, missing rule classes, ports used twice, invalid numbers, AckMode and
 * ReplyCodeActions values. Errors make `loadProduction` throw.
 */
export function validateProduction(
  p: Production,
  options: ValidateOptions = {},
): ProductionIssue[] {
  const issues: ProductionIssue[] = []
  const names = new Map<string, ProductionItem>()
  const at = (obj: object): { file?: string; line?: number } => {
    const o = originOf(obj)
    return {
      ...(o?.file !== undefined ? { file: o.file } : {}),
      ...(o?.line !== undefined ? { line: o.line } : {}),
    }
  }
  const settingIssue = (item: ProductionItem, s: ProductionSetting, message: string): void => {
    issues.push({ severity: 'error', item: item.name, setting: s.name, message, ...at(s) })
  }
  if (
    p.actorPoolSize !== undefined &&
    (!Number.isInteger(p.actorPoolSize) || p.actorPoolSize < 0)
  ) {
    issues.push({
      severity: 'error',
      setting: 'ActorPoolSize',
      message: `production "${p.name}": ActorPoolSize "${p.attributes.ActorPoolSize ?? p.actorPoolSize}" is not a whole number >= 0`,
      ...at(p),
    })
  }
  for (const item of p.items) {
    if (item.name.trim() === '') {
      issues.push({ severity: 'error', message: 'an item has no Name', ...at(item) })
    } else if (names.has(item.name)) {
      issues.push({
        severity: 'error',
        item: item.name,
        message: `item "${item.name}": duplicate item name (names must be unique)`,
        ...at(item),
      })
    } else names.set(item.name, item)
    if (item.className.trim() === '') {
      issues.push({
        severity: 'error',
        item: item.name,
        message: `item "${item.name}": no ClassName`,
        ...at(item),
      })
    }
    const pool = item.attributes.PoolSize
    if (
      pool !== undefined &&
      pool.trim() !== '' &&
      (!/^\d+$/.test(pool.trim()) || !Number.isFinite(item.poolSize))
    ) {
      issues.push({
        severity: 'error',
        item: item.name,
        setting: 'PoolSize',
        message: `item "${item.name}": PoolSize "${pool}" is not a whole number >= 0`,
        ...at(item),
      })
    }
    for (const attr of ['Enabled', 'Foreground', 'LogTraceEvents'] as const) {
      const v = item.attributes[attr]
      if (v !== undefined && parseIrisBoolean(v) === undefined) {
        issues.push({
          severity: 'error',
          item: item.name,
          setting: attr,
          message: `item "${item.name}": ${attr} "${v}" is not true/false/1/0`,
          ...at(item),
        })
      }
    }
  }
  const ports = new Map<string, ProductionItem>()
  for (const item of p.items) {
    for (const s of item.settings) {
      const range = NUMERIC_SETTINGS[s.name]
      const v = s.value.trim()
      if (range && v !== '') {
        const n = Number(v)
        if (
          !NUMBER.test(v) ||
          (range.integer === true && !Number.isInteger(n)) ||
          n < range.min ||
          (range.max !== undefined && n > range.max)
        ) {
          settingIssue(
            item,
            s,
            `item "${item.name}" setting ${s.name}: "${s.value}" is not a valid number (expected ${range.integer === true ? 'a whole number' : 'a number'} >= ${range.min}${range.max !== undefined ? ` and <= ${range.max}` : ''})`,
          )
        }
      }
      if (s.name === 'AckMode' && v !== '' && !ACK_MODES.has(v)) {
        settingIssue(
          item,
          s,
          `item "${item.name}" setting AckMode: "${s.value}" is not one of Never, Immed, App, Msh, Byte`,
        )
      }
      if (s.name === 'ReplyCodeActions' && v !== '') {
        try {
          parseReplyCodeActions(v)
        } catch (e) {
          settingIssue(
            item,
            s,
            `item "${item.name}" setting ReplyCodeActions: ${isEngineError(e) ? e.message : String(e)}`,
          )
        }
      }
      if (s.name === 'TargetConfigNames') {
        for (const t of splitList(s.value)) {
          if (!p.items.some((i) => i.name === t)) {
            settingIssue(
              item,
              s,
              `item "${item.name}" setting TargetConfigNames: unknown target "${t}" (no item has that name)`,
            )
          }
        }
      }
      if (s.name === 'BusinessRuleName' && v !== '' && !p.rules.has(v)) {
        settingIssue(
          item,
          s,
          `item "${item.name}" setting BusinessRuleName: rule class "${v}" was not found in the export or next to it`,
        )
      }
    }
    if (item.enabled && hostKindOf(item, options.resolveKind) === 'service') {
      const port = itemSetting(item, 'Port', 'Adapter')?.trim()
      if (port !== undefined && port !== '') {
        const ip = itemSetting(item, 'IPAddress', 'Adapter')?.trim() ?? ''
        const key = `${ip.startsWith('!') ? '' : ip}:${port}`
        const other = ports.get(key) ?? ports.get(`:${port}`)
        if (other) {
          const s = item.settings.find((x) => x.name === 'Port') as ProductionSetting
          settingIssue(
            item,
            s,
            `item "${item.name}" setting Port: port ${port} is already used by item "${other.name}"`,
          )
        } else ports.set(key, item)
      }
    }
  }
  return issues
}
