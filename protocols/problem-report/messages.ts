import { randomUUID } from 'node:crypto'
import type { PlainMessage } from '../../didcomm/envelope.ts'

export const PROBLEM_REPORT_PROTOCOL = 'https://didcomm.org/report-problem/2.0'
export const PROBLEM_REPORT = `${PROBLEM_REPORT_PROTOCOL}/problem-report`

/** A problem report on the thread of the message that failed (`pthid`). */
export function problemReport (code: string, comment: string, init: { from?: string, to?: string, pthid?: string } = {}): PlainMessage {
  return {
    id: randomUUID(),
    type: PROBLEM_REPORT,
    ...(init.pthid === undefined ? {} : { pthid: init.pthid }),
    ...(init.from === undefined ? {} : { from: init.from }),
    ...(init.to === undefined ? {} : { to: [init.to] }),
    created_time: Math.floor(Date.now() / 1000),
    body: { code, comment }
  }
}
