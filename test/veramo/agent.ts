/**
 * A real Veramo 7 agent as an application would assemble it: in-memory keys and DIDs, did:peer
 * (Veramo's own provider and resolver), DIDComm over HTTP, and the recipient-side handlers of
 * coordinate-mediation and pickup. Every DIDComm message the agent unpacks is recorded, and a last
 * handler takes what no protocol handler claims (replies the application reads itself), as an app's
 * own handler would.
 */
import { createAgent } from '@veramo/core'
import type { IDIDManager, IIdentifier, IKeyManager, IMessageHandler, IResolver, TAgent } from '@veramo/core'
import {
  CoordinateMediationRecipientMessageHandler, CoordinateMediationV3RecipientMessageHandler, DIDComm, DIDCommHttpTransport,
  DIDCommMessageHandler, PickupRecipientMessageHandler
} from '@veramo/did-comm'
import type { IDIDComm, IDIDCommMessage } from '@veramo/did-comm'
import { DIDManager, MemoryDIDStore } from '@veramo/did-manager'
import { PeerDIDProvider, getResolver as peerDidResolver } from '@veramo/did-provider-peer'
import { DIDResolverPlugin } from '@veramo/did-resolver'
import { KeyManager, MemoryKeyStore, MemoryPrivateKeyStore } from '@veramo/key-manager'
import { KeyManagementSystem } from '@veramo/kms-local'
import { AbstractMessageHandler, MessageHandler } from '@veramo/message-handler'
import type { Message } from '@veramo/message-handler'

export type VeramoAgent = TAgent<IResolver & IKeyManager & IDIDManager & IDIDComm & IMessageHandler>

/** Takes any decrypted DIDComm message no handler before it claimed. */
class AppInbox extends AbstractMessageHandler {
  override async handle (message: Message): Promise<Message> {
    return message
  }
}

export interface Veramo {
  agent: VeramoAgent
  /** Every DIDComm v2 message the agent unpacked, in order (plaintext as Veramo sees it). */
  unpacked: IDIDCommMessage[]
}

export function veramo (): Veramo {
  const unpacked: IDIDCommMessage[] = []
  const agent = createAgent<IResolver & IKeyManager & IDIDManager & IDIDComm & IMessageHandler>({
    plugins: [
      new KeyManager({ store: new MemoryKeyStore(), kms: { local: new KeyManagementSystem(new MemoryPrivateKeyStore()) } }),
      new DIDManager({ store: new MemoryDIDStore(), defaultProvider: 'did:peer', providers: { 'did:peer': new PeerDIDProvider({ defaultKms: 'local' }) } }),
      new DIDResolverPlugin({ ...peerDidResolver() }),
      new DIDComm({ transports: [new DIDCommHttpTransport()] }),
      new MessageHandler({
        messageHandlers: [
          new DIDCommMessageHandler(),
          new CoordinateMediationV3RecipientMessageHandler(),
          new CoordinateMediationRecipientMessageHandler(),
          new PickupRecipientMessageHandler(),
          new AppInbox()
        ]
      }),
      {
        eventTypes: ['DIDCommV2Message-received'],
        onEvent: async (event: { data: { message: IDIDCommMessage } }) => { unpacked.push(event.data.message) }
      }
    ]
  })
  return { agent, unpacked }
}

/** A did:peer:2 of the agent: X25519 and Ed25519 keys, and a DIDCommMessaging service when `serviceUri` is given. */
export async function peerDid (agent: VeramoAgent, serviceUri?: string): Promise<IIdentifier> {
  return await agent.didManagerCreate({
    provider: 'did:peer',
    options: {
      num_algo: 2,
      ...(serviceUri === undefined ? {} : { service: { id: '#didcomm-1', type: 'DIDCommMessaging', serviceEndpoint: { uri: serviceUri, accept: ['didcomm/v2'] } } })
    }
  })
}

/** Packs `message` as Veramo does by default (authcrypt: ECDH-1PU+A256KW, A256GCM) and sends it, the reply (if any) handled by the agent. */
export async function send (agent: VeramoAgent, message: IDIDCommMessage, to: string): Promise<Message | undefined> {
  const packed = await agent.packDIDCommMessage({ message, packing: 'authcrypt' })
  const sent = await agent.sendDIDCommMessage({ packedMessage: packed, messageId: message.id, recipientDidUrl: to })
  return sent.returnMessage as Message | undefined
}
