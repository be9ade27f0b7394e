import { mkdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { writeFileAtomic } from '../didcomm/atomic-file.ts'
import type { DidKeys } from '../didcomm/keys.ts'

/** A relationship: my pairwise DID for it and theirs. */
export interface Contact {
  name: string
  myDid: string
  theirDid: string
  /** epoch milliseconds */
  createdAt: number
}

export interface HomeNode {
  /** The node's mediator DID (the invitation's `from`). */
  did: string
  /** The DID the grant named for routing; pairwise DIDs use it as their service uri. */
  routingDid: string
  mediation: '2.0' | '3.0'
  /** The pickup version the node disclosed (4.0 preferred). */
  pickup: '3.0' | '4.0'
}

/** An invitation this agent made and is waiting to have accepted. */
export interface PendingInvitation { id: string, myDid: string, label?: string, createdAt: number }

export interface AgentState {
  version: 1
  /** The agent's own DID: the one that holds mediation. Never shown to contacts. */
  did: string
  keys: Record<string, DidKeys>
  node?: HomeNode
  contacts: Contact[]
  invitations: PendingInvitation[]
  /** Ids of the last messages handled, so a redelivery is acknowledged but not handled twice. */
  seen: string[]
}

export const AGENT_FILE = 'agent.json'
const SEEN_MAX = 2000

/** The agent's state in one 0600 JSON file in its own directory, written atomically. */
export class AgentStore {
  readonly dir: string
  state: AgentState
  private writing: Promise<void> = Promise.resolve()

  private constructor (dir: string, state: AgentState) {
    this.dir = dir
    this.state = state
  }

  /** Loads the agent in `dir`, or creates it there with `create()` when there is none yet. */
  static async open (dir: string, create: () => AgentState): Promise<AgentStore> {
    let state: AgentState
    try {
      state = JSON.parse(await readFile(join(dir, AGENT_FILE), 'utf8')) as AgentState
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
      state = create()
      const store = new AgentStore(dir, state)
      await store.save()
      return store
    }
    return new AgentStore(dir, state)
  }

  /** Saves the current state; saves run one after another, so the file always holds a whole state. */
  async save (): Promise<void> {
    const text = JSON.stringify(this.state, null, 2)
    const path = join(this.dir, AGENT_FILE)
    this.writing = this.writing.then(async () => {
      await mkdir(this.dir, { recursive: true, mode: 0o700 })
      await writeFileAtomic(path, text)
    })
    await this.writing
  }

  markSeen (id: string): void {
    this.state.seen.push(id)
    if (this.state.seen.length > SEEN_MAX) this.state.seen.splice(0, this.state.seen.length - SEEN_MAX)
  }
}
