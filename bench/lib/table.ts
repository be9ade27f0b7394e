/** The results as an aligned text table: figure, value, what it measures. */
import { FIGURES } from './figures.ts'
import type { FigureName, FigureSet, Figures } from './figures.ts'

function formatValue (value: number | undefined): string {
  return value === undefined || !Number.isFinite(value) ? 'MISSING' : value.toLocaleString('en-US', { maximumFractionDigits: 3 })
}

export function formatTable (figures: Figures, set: FigureSet = FIGURES): string {
  const rows = Object.entries(set).map(([name, about]) => [name, formatValue(figures[name as FigureName]), about] as const)
  const nameWidth = Math.max(...rows.map(([name]) => name.length))
  const valueWidth = Math.max(...rows.map(([, value]) => value.length))
  return rows.map(([name, value, about]) => `${name.padEnd(nameWidth)}  ${value.padStart(valueWidth)}  ${about}`).join('\n')
}
