/**
 * A self-signed certificate for `localhost` and 127.0.0.1 (made with the openssl command line, valid two days) and
 * a way for the test process to trust it, as an operator's CA bundle would.
 */
import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { getCACertificates, setDefaultCACertificates } from 'node:tls'
import { promisify } from 'node:util'
import { tempDir } from './node.ts'

export async function localhostCertificate (): Promise<{ cert: string, key: string }> {
  const dir = await tempDir('didcomm-mesh-tls-')
  try {
    const cert = join(dir.path, 'cert.pem')
    const key = join(dir.path, 'key.pem')
    await promisify(execFile)('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=localhost',
      '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-days', '2', '-keyout', key, '-out', cert])
    return { cert: await readFile(cert, 'utf8'), key: await readFile(key, 'utf8') }
  } finally {
    await dir.remove()
  }
}

/** Makes every TLS client of this process trust `cert` besides the default CAs; returns the undo. */
export function trust (cert: string): () => void {
  const before = getCACertificates('default')
  setDefaultCACertificates([...before, cert])
  return () => { setDefaultCACertificates(before) }
}
