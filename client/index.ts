/** The didcomm-mesh client library: `import { MeshAgent } from 'didcomm-mesh/client'`. */
export { MeshAgent, BASIC_MESSAGE } from './agent.ts'
export type { AgentOptions, LiveConnection, MessageHandler, PushDevice, PushDevices, PushKind, ReceivedMessage, SendOptions } from './agent.ts'
export type { Contact, HomeNode } from './store.ts'
export { MediationDeniedError, NodeRefusedError, NodeUnreachableError, NotConnectedError, NotEnoughMixesError, UnknownContactError } from './errors.ts'
