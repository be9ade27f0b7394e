/**
 * Several nodes on one host: `--p2p-port` alone tells them apart (the libp2p WebSocket port follows
 * it), and a port that is taken stops the start with an error naming the flag that chooses it.
 */
import assert from 'node:assert/strict'
import { createServer } from 'node:net'
import type { Server } from 'node:net'
import { after, describe, it } from 'node:test'
import { freePort } from '../../bench/lib/ports.ts'
import { testNodes } from '../helpers/node.ts'

/** A free port whose successor is free too (the derived WebSocket port). */
async function freePair (): Promise<number> {
  for (;;) {
    const port = await freePort()
    if (port < 65535 && await holds(port + 1)) return port
  }
}

async function holds (port: number): Promise<boolean> {
  const server = createServer()
  const ok = await new Promise<boolean>(resolve => {
    server.once('error', () => { resolve(false) })
    server.listen(port, '127.0.0.1', () => { resolve(true) })
  })
  if (ok) await new Promise(resolve => server.close(resolve))
  return ok
}

async function occupy (): Promise<{ port: number, server: Server }> {
  const server = createServer()
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return { port: (server.address() as { port: number }).port, server }
}

describe('ports of several nodes on one host', () => {
  const nodes = testNodes()
  after(async () => { await nodes.stopAll() })

  it('two nodes given only --p2p-port each start, each WebSocket listener on its --p2p-port + 1', async () => {
    const ports = [await freePair(), await freePair()]
    // p2pWsPort: undefined overrides the test helper's 0, as an operator who never sets it.
    const started = await Promise.all(ports.map(async p2pPort => await nodes.start({ p2pPort, p2pWsPort: undefined })))
    for (const [i, node] of started.entries()) {
      const port = ports[i] as number
      assert.ok(node.info.multiaddrs.some(ma => ma.includes(`/tcp/${port}/p2p/`)), `TCP on ${port}`)
      assert.ok(node.info.multiaddrs.some(ma => ma.includes(`/tcp/${port + 1}/ws/`)), `WebSocket on ${port + 1}`)
    }
  })

  for (const [flag, key, words] of [
    ['--http-port', 'httpPort', /HTTP port \d+ is already in use: choose another with --http-port/],
    ['--p2p-port', 'p2pPort', /libp2p TCP port \d+ is already in use: choose another with --p2p-port/],
    ['--p2p-ws-port', 'p2pWsPort', /libp2p WebSocket port \d+ is already in use: choose another with --p2p-ws-port/]
  ] as const) {
    it(`a taken ${flag} stops the start with an error naming ${flag}`, async () => {
      const taken = await occupy()
      try {
        await assert.rejects(nodes.start({ [key]: taken.port }), (err: Error) => err.name === 'PortInUseError' && words.test(err.message))
      } finally {
        taken.server.close()
      }
    })
  }

  it('a taken derived WebSocket port names --p2p-ws-port and says where the port came from', async () => {
    let taken = await occupy()
    // The TCP port below it must be free, or that one is reported.
    while (!await holds(taken.port - 1)) {
      taken.server.close()
      taken = await occupy()
    }
    try {
      await assert.rejects(nodes.start({ p2pPort: taken.port - 1, p2pWsPort: undefined }), /libp2p WebSocket port \d+ \(it is --p2p-port \+ 1 when not given\) is already in use: choose another with --p2p-ws-port/)
    } finally {
      taken.server.close()
    }
  })
})
