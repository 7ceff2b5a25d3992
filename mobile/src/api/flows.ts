// Typed operations of the contracts API (graph/flows.graphql), real-name
// verification and seals (graph/identity.graphql). Types are written by hand
// to match the selections below.
import { client, operation } from './client'
import type { AuthPayload, SentCode } from './operations'

export type FlowList = 'TODO' | 'DRAFTS' | 'DONE' | 'INITIATED' | 'CC' | 'COMPLETED' | 'VOIDED'
export type FlowStatus = 'draft' | 'signing' | 'completed' | 'revoked' | 'declined' | 'expired'
export type FlowScene = 'general' | 'hr'
export type ParticipantRole = 'signer' | 'cc'
export type ParticipantKind = 'person' | 'enterprise'
export type ParticipantStatus = 'waiting' | 'pending' | 'signed' | 'declined'
export type SignFieldKind = 'enterprise_seal' | 'personal_seal' | 'handwriting' | 'date'
export type SealKind = 'personal' | 'handwritten' | 'official' | 'contract' | 'legal_rep' | 'custom'

export interface PageSize {
  width: number
  height: number
}

export interface FlowDocument {
  id: string
  name: string
  contractNumber: string | null
  pages: PageSize[]
  revision: number
}

export interface Participant {
  id: string
  role: ParticipantRole
  kind: ParticipantKind
  signOrder: number
  name: string
  phone: string
  enterpriseName: string | null
  userID: string | null
  status: ParticipantStatus
  signedAt: string | null
  declinedAt: string | null
  declineReason: string | null
}

export interface SignField {
  id: string
  documentID: string
  participantID: string | null
  kind: SignFieldKind
  page: number
  x: number
  y: number
  width: number
  height: number
  placedBySigner: boolean
  appliedRevision: number | null
}

/** A flow as the list rows show it. */
export interface FlowSummary {
  id: string
  number: string
  name: string
  scene: FlowScene
  status: FlowStatus
  ordered: boolean
  deadline: string | null
  sentAt: string | null
  finishedAt: string | null
  createdAt: string
  initiatorID: string
  endReason: string | null
  documents: Pick<FlowDocument, 'id' | 'name' | 'contractNumber'>[] | null
  participants: Participant[] | null
}

/** A flow with everything the signing and trail pages draw. */
export interface FlowDetail extends FlowSummary {
  hasPasscode: boolean
  documents: FlowDocument[] | null
  fields: SignField[] | null
}

export interface FlowCounts {
  todo: number
  drafts: number
  done: number
  initiated: number
  cc: number
  completed: number
  voided: number
}

export interface FlowListFilter {
  keyword?: string
  party?: string
  contract?: string
  scene?: FlowScene
  sentFrom?: string
  sentTo?: string
  deadlineFrom?: string
  deadlineTo?: string
}

export interface PageInfo {
  hasNextPage: boolean
  hasPreviousPage: boolean
  startCursor: string | null
  endCursor: string | null
}

export interface FlowPage {
  totalCount: number
  pageInfo: PageInfo
  flows: FlowSummary[]
}

export interface ParticipantInput {
  key: string
  role?: ParticipantRole
  kind?: ParticipantKind
  order?: number
  name: string
  phone: string
  email?: string
  enterpriseName?: string
}

export interface SignFieldInput {
  documentID: string
  participantKey: string
  kind: SignFieldKind
  page: number
  x: number
  y: number
  width: number
  height: number
}

export interface FlowDraftInput {
  name: string
  scene?: FlowScene
  ordered?: boolean
  deadline?: string | null
  passcode?: string
  participants?: ParticipantInput[]
  fields?: SignFieldInput[]
}

export interface RemindResult {
  flowID: string
  reminded: number
  error: string | null
  code: string | null
}

export interface SigningLinkInfo {
  flowName: string
  initiator: string
  maskedPhone: string
  status: FlowStatus
}

export interface PlacementInput {
  documentID: string
  kind: SignFieldKind
  page: number
  x: number
  y: number
  width: number
  height: number
}

export interface SignFlowInput {
  flowID: string
  personalSealID?: string
  enterpriseSealID?: string
  placements?: PlacementInput[]
  code?: string
}

export interface IntentCode {
  maskedPhone: string
  resendAfterSeconds: number
  expiresAt: string
  fingerprint: string
}

export interface Seal {
  id: string
  kind: SealKind
  name: string
  width: number
  height: number
  isDefault: boolean
  imageDataURL: string
  enterpriseID: string | null
}

export interface Viewer {
  id: string
  phone: string
  name: string | null
  maskedPhone: string
  realNameVerified: boolean
}

export type VerificationStatus = 'collected' | 'pending' | 'verified' | 'failed'
export interface IdentityVerification {
  id: string
  status: VerificationStatus
  failureReason: string | null
  faceRedirectURL: string | null
}

export interface StartRealNameInput {
  name: string
  idNumber: string
  email?: string
  phone: string
}

const PARTICIPANT = 'id role kind signOrder name phone enterpriseName userID status signedAt declinedAt declineReason'
const SUMMARY = `id number name scene status ordered deadline sentAt finishedAt createdAt initiatorID endReason
  documents { id name contractNumber }
  participants { ${PARTICIPANT} }`
const DETAIL = `id number name scene status ordered deadline sentAt finishedAt createdAt initiatorID endReason hasPasscode
  documents { id name contractNumber pages { width height } revision }
  participants { ${PARTICIPANT} }
  fields { id documentID participantID kind page x y width height placedBySigner appliedRevision }`
const VERIFICATION = 'id status failureReason faceRedirectURL'

export const FlowsQuery = operation<
  {
    flows: {
      totalCount: number
      pageInfo: PageInfo
      edges: ({ node: FlowSummary | null } | null)[] | null
    }
  },
  { list: FlowList; filter: FlowListFilter | null; first: number | null; after: string | null; last: number | null; before: string | null }
>(
  'Flows',
  `query Flows($list: FlowList!, $filter: FlowListFilter, $first: Int, $after: Cursor, $last: Int, $before: Cursor) {
  flows(list: $list, filter: $filter, first: $first, after: $after, last: $last, before: $before) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { node { ${SUMMARY} } }
  }
}`,
)

export const FlowCountsQuery = operation<{ flowCounts: FlowCounts }>(
  'FlowCounts',
  'query FlowCounts { flowCounts { todo drafts done initiated cc completed voided } }',
)

export const FlowQuery = operation<{ node: FlowDetail | null }, { id: string }>(
  'Flow',
  `query Flow($id: ID!) { node(id: $id) { ... on Flow { ${DETAIL} } } }`,
)

export const ViewerQuery = operation<{ me: Viewer }>(
  'Viewer',
  'query Viewer { me { id phone name maskedPhone realNameVerified } }',
)

export const UsableSealsQuery = operation<{ usableSeals: Seal[] }>(
  'UsableSeals',
  'query UsableSeals { usableSeals { id kind name width height isDefault imageDataURL enterpriseID } }',
)

export const CreateFlowMutation = operation<{ createFlow: FlowDetail }, { input: FlowDraftInput }>(
  'CreateFlow',
  `mutation CreateFlow($input: FlowDraftInput!) { createFlow(input: $input) { ${DETAIL} } }`,
)

export const UpdateFlowDraftMutation = operation<{ updateFlowDraft: FlowDetail }, { id: string; input: FlowDraftInput }>(
  'UpdateFlowDraft',
  `mutation UpdateFlowDraft($id: ID!, $input: FlowDraftInput!) { updateFlowDraft(id: $id, input: $input) { ${DETAIL} } }`,
)

export const RemoveFlowDocumentMutation = operation<{ removeFlowDocument: boolean }, { id: string }>(
  'RemoveFlowDocument',
  'mutation RemoveFlowDocument($id: ID!) { removeFlowDocument(id: $id) }',
)

export const SendFlowMutation = operation<{ sendFlow: FlowDetail }, { id: string }>(
  'SendFlow',
  `mutation SendFlow($id: ID!) { sendFlow(id: $id) { ${DETAIL} } }`,
)

export const RemindFlowsMutation = operation<{ remindFlows: RemindResult[] }, { ids: string[] }>(
  'RemindFlows',
  'mutation RemindFlows($ids: [ID!]!) { remindFlows(ids: $ids) { flowID reminded error code } }',
)

export const RevokeFlowMutation = operation<{ revokeFlow: { id: string; status: FlowStatus } }, { id: string; reason: string }>(
  'RevokeFlow',
  'mutation RevokeFlow($id: ID!, $reason: String!) { revokeFlow(id: $id, reason: $reason) { id status } }',
)

export const DeleteFlowsMutation = operation<{ deleteFlows: boolean }, { ids: string[] }>(
  'DeleteFlows',
  'mutation DeleteFlows($ids: [ID!]!) { deleteFlows(ids: $ids) }',
)

export const SigningLinkQuery = operation<{ signingLink: SigningLinkInfo }, { code: string }>(
  'SigningLink',
  'query SigningLink($code: String!) { signingLink(code: $code) { flowName initiator maskedPhone status } }',
)

export const SendSigningLinkCodeMutation = operation<{ sendSigningLinkCode: SentCode }, { code: string }>(
  'SendSigningLinkCode',
  'mutation SendSigningLinkCode($code: String!) { sendSigningLinkCode(code: $code) { maskedPhone resendAfterSeconds expiresAt } }',
)

export const OpenSigningLinkMutation = operation<
  { openSigningLink: { auth: AuthPayload; flow: { id: string } } },
  { input: { code: string; smsCode: string; serviceAgreementVersion: string; privacyStatementVersion: string } }
>(
  'OpenSigningLink',
  `mutation OpenSigningLink($input: OpenSigningLinkInput!) {
  openSigningLink(input: $input) { auth { token user { id name maskedPhone hasPassword } } flow { id } }
}`,
)

export const MarkFlowViewedMutation = operation<{ markFlowViewed: boolean }, { id: string }>(
  'MarkFlowViewed',
  'mutation MarkFlowViewed($id: ID!) { markFlowViewed(id: $id) }',
)

export const VerifyFlowPasscodeMutation = operation<{ verifyFlowPasscode: boolean }, { flowID: string; passcode: string }>(
  'VerifyFlowPasscode',
  'mutation VerifyFlowPasscode($flowID: ID!, $passcode: String!) { verifyFlowPasscode(flowID: $flowID, passcode: $passcode) }',
)

export const SendIntentCodeMutation = operation<{ sendIntentCode: IntentCode }, { input: SignFlowInput }>(
  'SendIntentCode',
  `mutation SendIntentCode($input: SignFlowInput!) {
  sendIntentCode(input: $input) { maskedPhone resendAfterSeconds expiresAt fingerprint }
}`,
)

export const SignFlowMutation = operation<{ signFlow: { id: string; status: FlowStatus } }, { input: SignFlowInput }>(
  'SignFlow',
  'mutation SignFlow($input: SignFlowInput!) { signFlow(input: $input) { id status } }',
)

export const DeclineFlowMutation = operation<{ declineFlow: { id: string; status: FlowStatus } }, { id: string; reason: string }>(
  'DeclineFlow',
  'mutation DeclineFlow($id: ID!, $reason: String!) { declineFlow(id: $id, reason: $reason) { id status } }',
)

export const StartRealNameMutation = operation<{ startRealNameVerification: IdentityVerification }, { input: StartRealNameInput }>(
  'StartRealName',
  `mutation StartRealName($input: StartRealNameInput!) { startRealNameVerification(input: $input) { ${VERIFICATION} } }`,
)

export const VerifyByCarrierMutation = operation<{ verifyRealNameByCarrier: IdentityVerification }, { id: string }>(
  'VerifyByCarrier',
  `mutation VerifyByCarrier($id: ID!) { verifyRealNameByCarrier(id: $id) { ${VERIFICATION} } }`,
)

export const VerifyByBankCardMutation = operation<
  { verifyRealNameByBankCard: IdentityVerification },
  { id: string; cardNumber: string }
>(
  'VerifyByBankCard',
  `mutation VerifyByBankCard($id: ID!, $cardNumber: String!) { verifyRealNameByBankCard(id: $id, cardNumber: $cardNumber) { ${VERIFICATION} } }`,
)

export const StartFaceMutation = operation<{ startFaceVerification: IdentityVerification }, { id: string; returnUrl: string }>(
  'StartFace',
  `mutation StartFace($id: ID!, $returnUrl: String) { startFaceVerification(id: $id, returnUrl: $returnUrl) { ${VERIFICATION} } }`,
)

export const CompleteFaceMutation = operation<{ completeFaceVerification: IdentityVerification }, { id: string }>(
  'CompleteFace',
  `mutation CompleteFace($id: ID!) { completeFaceVerification(id: $id) { ${VERIFICATION} } }`,
)

const nodes = <T>(edges: ({ node: T | null } | null)[] | null | undefined): T[] =>
  (edges ?? []).flatMap((e) => (e?.node ? [e.node] : []))

/** The contracts API as plain async functions. */
export const flowsApi = {
  async list(
    list: FlowList,
    filter: FlowListFilter | null,
    page: { first?: number; after?: string | null; last?: number; before?: string | null },
  ): Promise<FlowPage> {
    const d = await client.request(FlowsQuery, {
      list,
      filter,
      first: page.first ?? null,
      after: page.after ?? null,
      last: page.last ?? null,
      before: page.before ?? null,
    })
    return { totalCount: d.flows.totalCount, pageInfo: d.flows.pageInfo, flows: nodes(d.flows.edges) }
  },
  counts: () => client.request(FlowCountsQuery).then((d) => d.flowCounts),
  async flow(id: string): Promise<FlowDetail> {
    const d = await client.request(FlowQuery, { id })
    if (!d.node || !('number' in d.node)) throw new Error('not a flow')
    return d.node
  },
  viewer: () => client.request(ViewerQuery).then((d) => d.me),
  usableSeals: () => client.request(UsableSealsQuery).then((d) => d.usableSeals),
  create: (input: FlowDraftInput) => client.request(CreateFlowMutation, { input }).then((d) => d.createFlow),
  updateDraft: (id: string, input: FlowDraftInput) =>
    client.request(UpdateFlowDraftMutation, { id, input }).then((d) => d.updateFlowDraft),
  removeDocument: (id: string) => client.request(RemoveFlowDocumentMutation, { id }).then((d) => d.removeFlowDocument),
  send: (id: string) => client.request(SendFlowMutation, { id }).then((d) => d.sendFlow),
  remind: (ids: string[]) => client.request(RemindFlowsMutation, { ids }).then((d) => d.remindFlows),
  revoke: (id: string, reason: string) => client.request(RevokeFlowMutation, { id, reason }).then((d) => d.revokeFlow),
  remove: (ids: string[]) => client.request(DeleteFlowsMutation, { ids }).then((d) => d.deleteFlows),
  signingLink: (code: string) => client.request(SigningLinkQuery, { code }).then((d) => d.signingLink),
  sendSigningLinkCode: (code: string) =>
    client.request(SendSigningLinkCodeMutation, { code }).then((d) => d.sendSigningLinkCode),
  openSigningLink: (input: { code: string; smsCode: string; serviceAgreementVersion: string; privacyStatementVersion: string }) =>
    client.request(OpenSigningLinkMutation, { input }).then((d) => d.openSigningLink),
  /** markViewed records 查看合同 in the trail (once per party; the server decides). */
  markViewed: (id: string) => client.request(MarkFlowViewedMutation, { id }).then((d) => d.markFlowViewed),
  verifyPasscode: (flowID: string, passcode: string) =>
    client.request(VerifyFlowPasscodeMutation, { flowID, passcode }).then((d) => d.verifyFlowPasscode),
  sendIntentCode: (input: SignFlowInput) => client.request(SendIntentCodeMutation, { input }).then((d) => d.sendIntentCode),
  sign: (input: SignFlowInput) => client.request(SignFlowMutation, { input }).then((d) => d.signFlow),
  decline: (id: string, reason: string) => client.request(DeclineFlowMutation, { id, reason }).then((d) => d.declineFlow),
}

/** Real-name verification (个人实名认证). */
export const identityApi = {
  start: (input: StartRealNameInput) => client.request(StartRealNameMutation, { input }).then((d) => d.startRealNameVerification),
  byCarrier: (id: string) => client.request(VerifyByCarrierMutation, { id }).then((d) => d.verifyRealNameByCarrier),
  byBankCard: (id: string, cardNumber: string) =>
    client.request(VerifyByBankCardMutation, { id, cardNumber }).then((d) => d.verifyRealNameByBankCard),
  startFace: (id: string, returnUrl: string) =>
    client.request(StartFaceMutation, { id, returnUrl }).then((d) => d.startFaceVerification),
  completeFace: (id: string) => client.request(CompleteFaceMutation, { id }).then((d) => d.completeFaceVerification),
}

// Batch signing (graph/batch.graphql)

export interface BatchSignInput {
  flowIDs: string[]
  personalSealID?: string
  enterpriseSealID?: string
  code?: string
}

export interface BatchSignResult {
  flowID: string
  ok: boolean
  error: string | null
  code: string | null
  flow: { id: string; name: string; status: FlowStatus } | null
}

export interface BatchIntentCode {
  sent: boolean
  maskedPhone: string | null
  resendAfterSeconds: number | null
  expiresAt: string | null
  fingerprint: string
  results: BatchSignResult[]
}

const BATCH_RESULT = 'flowID ok error code flow { id name status }'

export const SendBatchIntentCodeMutation = operation<{ sendBatchIntentCode: BatchIntentCode }, { input: BatchSignInput }>(
  'SendBatchIntentCode',
  `mutation SendBatchIntentCode($input: BatchSignInput!) {
  sendBatchIntentCode(input: $input) { sent maskedPhone resendAfterSeconds expiresAt fingerprint results { ${BATCH_RESULT} } }
}`,
)

export const BatchSignFlowsMutation = operation<{ batchSignFlows: BatchSignResult[] }, { input: BatchSignInput }>(
  'BatchSignFlows',
  `mutation BatchSignFlows($input: BatchSignInput!) { batchSignFlows(input: $input) { ${BATCH_RESULT} } }`,
)

export const batchApi = {
  sendIntentCode: (input: BatchSignInput) =>
    client.request(SendBatchIntentCodeMutation, { input }).then((d) => d.sendBatchIntentCode),
  sign: (input: BatchSignInput) => client.request(BatchSignFlowsMutation, { input }).then((d) => d.batchSignFlows),
}

/**
 * A seal as the 批量签署 dialog offers it: with its enterprise and how its
 * certificate is kept (hosted, or on a UKey — an enterprise's 一key一章 or
 * 一key多章 custody — whose certificate must be on the plugged-in token).
 */
export interface BatchSeal extends Seal {
  enterprise: { name: string } | null
  certificate: { custody: 'hosted' | 'ukey'; status: 'pending' | 'active' | 'revoked' | 'superseded'; fingerprint: string | null } | null
}

/** A selected flow's parties and positions: which seals the viewer needs in it. */
export type BatchFlowFields = Pick<FlowDetail, 'id' | 'participants' | 'fields'>

const BATCH_SEAL = 'id kind name width height isDefault imageDataURL enterpriseID enterprise { name } certificate { custody status fingerprint }'

/** The seals of a batch: the current space's (enterprise seals in an enterprise space) and the viewer's personal ones. */
export const BatchSealsQuery = operation<{ usableSeals: BatchSeal[]; myPersonalSeals: BatchSeal[] }>(
  'BatchSeals',
  `query BatchSeals { usableSeals { ${BATCH_SEAL} } myPersonalSeals { ${BATCH_SEAL} } }`,
)

export const BatchFlowFieldsQuery = operation<{ nodes: (Partial<BatchFlowFields> | null)[] }, { ids: string[] }>(
  'BatchFlowFields',
  `query BatchFlowFields($ids: [ID!]!) {
  nodes(ids: $ids) { ... on Flow { id participants { ${PARTICIPANT} } fields { id documentID participantID kind page x y width height placedBySigner appliedRevision } } }
}`,
)

/** The data the 批量签署 dialog needs before the code is sent. */
export const batchSetupApi = {
  seals: () => client.request(BatchSealsQuery),
  flowFields: async (ids: string[]): Promise<BatchFlowFields[]> => {
    const d = await client.request(BatchFlowFieldsQuery, { ids })
    return d.nodes.flatMap((n) => (n?.id && n.participants !== undefined ? [{ id: n.id, participants: n.participants ?? null, fields: n.fields ?? null }] : []))
  },
}
