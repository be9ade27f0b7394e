import type { ProblemCode } from './codes.ts'

/** A refusal that becomes a problem report on the request's thread (HTTP picks its status from the code). */
export class ProblemReportError extends Error {
  override name = 'ProblemReportError'
  readonly code: ProblemCode

  constructor (code: ProblemCode, comment: string) {
    super(comment)
    this.code = code
  }
}
