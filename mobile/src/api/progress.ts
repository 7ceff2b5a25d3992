// Typed operations of the trail and live progress API (graph/progress.graphql).
import { client, operation } from './client'
import { toApiError } from './errors'
import type { FlowCounts, FlowDetail, FlowStatus, ParticipantKind, ParticipantRole, ParticipantStatus } from './flows'
import { subscriptions } from './ws'

export interface TrailEvent {
  seq: number
  time: string
  actor: string
  actorType: string
  action: string
  actionLabel: string
  subjectType: string
  subject: string
  reason: string | null
  ip: string
  hash: string
}

export interface PartyProgress {
  participantID: string
  role: ParticipantRole
  kind: ParticipantKind
  order: number
  name: string
  enterpriseName: string | null
  maskedPhone: string
  status: ParticipantStatus
  viewedAt: string | null
  signedAt: string | null
  declinedAt: string | null
  declineReason: string | null
  lastRemindedAt: string | null
  isMe: boolean
}

export interface FlowUpdate {
  flowID: string
  kind: string
  subjectID: string | null
  status: FlowStatus
  time: string
}

export interface TrailVerification {
  ok: boolean
  events: number
  problems: { seq: number; kind: string; detail: string }[]
}

type FlowHead = Pick<FlowDetail, 'id' | 'number' | 'name' | 'scene' | 'status' | 'ordered' | 'deadline' | 'sentAt' | 'finishedAt' | 'createdAt' | 'initiatorID' | 'endReason' | 'hasPasscode'> & {
  documents: { id: string; name: string; contractNumber: string | null; pages: { width: number; height: number }[]; revision: number }[] | null
}

export const FlowProgressQuery = operation<{ flowProgress: { flow: FlowHead; parties: PartyProgress[] } }, { id: string }>(
  'FlowProgress',
  `query FlowProgress($id: ID!) {
  flowProgress(id: $id) {
    flow { id number name scene status ordered deadline sentAt finishedAt createdAt initiatorID endReason hasPasscode
      documents { id name contractNumber pages { width height } revision } }
    parties { participantID role kind order name enterpriseName maskedPhone status viewedAt signedAt declinedAt declineReason lastRemindedAt isMe }
  }
}`,
)

export const FlowTrailQuery = operation<
  { flowTrail: { events: TrailEvent[]; hasNextPage: boolean; nextAfter: number | null } },
  { id: string; after: number | null }
>(
  'FlowTrail',
  `query FlowTrail($id: ID!, $after: Int) {
  flowTrail(id: $id, after: $after, first: 100) {
    events { seq time actor actorType action actionLabel subjectType subject reason ip hash }
    hasNextPage nextAfter
  }
}`,
)

export const VerifyFlowTrailQuery = operation<{ verifyFlowTrail: TrailVerification }, { id: string }>(
  'VerifyFlowTrail',
  'query VerifyFlowTrail($id: ID!) { verifyFlowTrail(id: $id) { ok events problems { seq kind detail } } }',
)

export const FlowUpdatedSubscription = operation<{ flowUpdated: FlowUpdate }, { id: string }>(
  'FlowUpdated',
  'subscription FlowUpdated($id: ID!) { flowUpdated(id: $id) { flowID kind subjectID status time } }',
)

export const MyListsChangedSubscription = operation<{ myListsChanged: FlowCounts }>(
  'MyListsChanged',
  'subscription MyListsChanged { myListsChanged { todo drafts done initiated cc completed voided } }',
)

/**
 * isUnknownField tells a server that does not have this API yet (a GraphQL
 * validation error) from a real failure, so pages can fall back.
 */
export function isUnknownField(e: unknown): boolean {
  const err = toApiError(e)
  return err.code === 'INTERNAL' && /GRAPHQL_VALIDATION_FAILED|Cannot query field/.test(err.detail ?? '')
}

export const progressApi = {
  progress: (id: string) => client.request(FlowProgressQuery, { id }).then((d) => d.flowProgress),
  async trail(id: string): Promise<TrailEvent[]> {
    const out: TrailEvent[] = []
    let after: number | null = null
    for (let i = 0; i < 20; i++) {
      const page: { events: TrailEvent[]; hasNextPage: boolean; nextAfter: number | null } = (
        await client.request(FlowTrailQuery, { id, after })
      ).flowTrail
      out.push(...page.events)
      if (!page.hasNextPage || page.nextAfter === null) break
      after = page.nextAfter
    }
    return out
  },
  verifyTrail: (id: string) => client.request(VerifyFlowTrailQuery, { id }).then((d) => d.verifyFlowTrail),
  /** watchFlow calls fn on every update of the flow until the returned function is called. */
  watchFlow: (id: string, fn: (u: FlowUpdate) => void, onError?: (message: string) => void) =>
    subscriptions().subscribe(FlowUpdatedSubscription, { id }, {
      next: (d) => fn(d.flowUpdated),
      error: (e) => onError?.(e.message),
    }),
  /** watchCounts calls fn with the viewer's list counts now and on every change. */
  watchCounts: (fn: (c: FlowCounts) => void) =>
    subscriptions().subscribe(MyListsChangedSubscription, undefined, { next: (d) => fn(d.myListsChanged) }),
}
