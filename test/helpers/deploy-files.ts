/**
 * For tests that run a deploy/ file in a real proxy: whether the proxy is installed, and the file
 * with the test's ports and addresses, where every change must apply so the file cannot drift from
 * the test.
 */
import { execFileSync } from 'node:child_process'

/** Why `command` cannot run here, or undefined when it can. Under CI its absence is a failure, not a skip. */
export function toolMissing (command: string, versionArgs: string[], install: string): string | undefined {
  try {
    execFileSync(command, versionArgs, { stdio: 'ignore' })
    return undefined
  } catch {
    const reason = `${command} is not installed (${install})`
    if (process.env.CI === 'true') throw new Error(reason)
    return reason
  }
}

/** `text` with each change made; `file` names it in the error when a pattern no longer matches. */
export function applyChanges (text: string, changes: Array<[RegExp, string]>, file: string): string {
  return changes.reduce((changed, [pattern, replacement]) => {
    if (!pattern.test(changed)) throw new Error(`${file} no longer has ${String(pattern)}`)
    return changed.replace(pattern, replacement)
  }, text)
}
