import type { Logger } from 'pino'
import type { UsedInvitations } from '../../storage/store.ts'
import { verifyInvitationToken } from './invitation-token.ts'

/** Who gets a new mediation: anyone, a client presenting an unused invitation token, or no one. */
export type MediationMode = 'open' | 'invite' | 'closed'

export type Admission = 'admitted' | 'closed' | 'invitation-required' | 'invitation-invalid' | 'invitation-expired' | 'invitation-used'

/** What the mediate-request handler asks before granting a client that holds no mediation yet. */
export interface MediationPolicy {
  /** Whether `client` may get mediation; an `invitation` token it presents is used up when it admits. */
  admit(client: string, invitation: string | undefined): Promise<Admission>
}

export interface MediationPolicyComponents {
  /** nodeSecret(keys, 'invite'): the key invitation tokens are minted and checked with. */
  secret: Buffer
  used: UsedInvitations
  logger: Logger
}

export function createMediationPolicy (mode: MediationMode, components: MediationPolicyComponents): MediationPolicy {
  const { secret, used, logger } = components

  async function decide (invitation: string | undefined): Promise<Admission> {
    if (mode === 'open') return 'admitted'
    if (mode === 'closed') return 'closed'
    // pthid comes from the client: anything but a string is no invitation.
    if (typeof invitation !== 'string') return 'invitation-required'
    const token = verifyInvitationToken(secret, invitation)
    if (token === 'invalid') return 'invitation-invalid'
    if (token === 'expired') return 'invitation-expired'
    return await used.use(token.nonce, token.expiresAt) ? 'admitted' : 'invitation-used'
  }

  return {
    async admit (client, invitation) {
      const admission = await decide(invitation)
      // The reason goes to the operator's log only: the client gets a plain mediate-deny.
      if (admission !== 'admitted') logger.info({ client, reason: admission }, 'mediation denied')
      return admission
    }
  }
}
