import type { Handler } from '../message.ts'
import { PROBLEM_REPORT } from './messages.ts'

/** A problem report from a client is noted and never answered with another one. */
export const problemReportHandlersByType: Record<string, Handler> = {
  [PROBLEM_REPORT]: async () => ({})
}
