/** The results as an aligned text table: figure, value, target (met or not) where one is set, what it measures. */
import { FIGURES, TARGETS, meets } from './figures.ts'
import type { FigureName, FigureSet, Figures } from './figures.ts'

function formatValue (value: number | undefined): string {
  return value === undefined || !Number.isFinite(value) ? 'MISSING' : value.toLocaleString('en-US', { maximumFractionDigits: 3 })
}

/** `≤ 2 met`, `≥ 10 NOT met`, or '' for a figure without a target. */
function formatTarget (name: string, value: number | undefined): string {
  const target = TARGETS[name]
  if (target === undefined) return ''
  const bounds = [target.max === undefined ? '' : `≤ ${target.max}`, target.min === undefined ? '' : `≥ ${target.min}`].filter(Boolean).join(', ')
  return `${bounds} ${value !== undefined && Number.isFinite(value) && meets(target, value) ? 'met' : 'NOT met'}`
}

export function formatTable (figures: Figures, set: FigureSet = FIGURES): string {
  const rows = Object.entries(set).map(([name, about]) => {
    const value = figures[name as FigureName]
    return [name, formatValue(value), formatTarget(name, value), about] as const
  })
  const nameWidth = Math.max(...rows.map(([name]) => name.length))
  const valueWidth = Math.max(...rows.map(([, value]) => value.length))
  const targetWidth = Math.max(...rows.map(([, , target]) => target.length))
  const targetColumn = (target: string): string => targetWidth === 0 ? '' : `${target.padEnd(targetWidth)}  `
  return rows.map(([name, value, target, about]) => `${name.padEnd(nameWidth)}  ${value.padStart(valueWidth)}  ${targetColumn(target)}${about}`).join('\n')
}
