// Typed operations of graph/enterprises.graphql: spaces, 我的企业, 加入企业,
// the certification order and the enterprise console (which acts on the
// session's active space and needs the administrator role). Types are
// written by hand to match the selections below.
import { client, operation } from './client'
import type { SentCode } from './operations'
import type { CertificateChallenge } from './ukey'

export type MembershipRole = 'admin' | 'member'
export type SealKind = 'personal' | 'handwritten' | 'official' | 'contract' | 'legal_rep' | 'custom'
export type SealStatus = 'enabled' | 'disabled' | 'voided'
export type JoinRequestStatus = 'pending' | 'approved' | 'rejected' | 'revoked'
export type CertificateStatus = 'pending' | 'active' | 'revoked' | 'superseded'

export interface Enterprise {
  id: string
  name: string
  creditCode: string
  address: string
  legalRepName: string
  legalRepIDMasked: string
  custody: string
  status: string
  certifiedAt: string | null
  recertifyRequired: boolean
}

export interface ActiveSpace {
  enterprise: { id: string; name: string } | null
  role: MembershipRole | null
}

export interface Member {
  id: string
  userID: string
  role: MembershipRole
  title: string | null
  memberName: string | null
  memberMaskedPhone: string
  createdAt: string
}

export interface ConsoleSeal {
  id: string
  kind: SealKind
  name: string
  status: SealStatus
  isDefault: boolean
  imageDataURL: string
  createdAt: string
  voidedAt: string | null
  voidedReason: string | null
  certificateID: string | null
  /** The certificate the seal signs with (custody 托管 / UKey; a UKey one is pending until bound); in consoleApi.seals() only. */
  certificate?: { id: string; custody: string; ukeyType: string | null; status: CertificateStatus } | null
}

/** A seal without its image: which custody record it is on (证书管理). */
export interface ConsoleSealRef {
  id: string
  kind: SealKind
  name: string
  status: SealStatus
  certificateID: string | null
}

export interface SealGrant {
  id: string
  sealID: string
  userID: string
  sealName: string
  granteeName: string | null
  validFrom: string
  validUntil: string
  scenes: string[] | null
  counterparties: string[] | null
  revokedAt: string | null
  createdAt: string
}

export interface ConsoleCertificate {
  id: string
  kind: string
  custody: string
  /** one_key_one_seal / one_key_many_seals for UKey custody */
  ukeyType: string | null
  status: CertificateStatus
  serial: string | null
  subject: string
  /** SHA-256 of the DER, hex; null while a UKey record waits for its certificate */
  fingerprint: string | null
  notBefore: string | null
  notAfter: string | null
  revokedAt: string | null
  boundAt: string | null
}

/** bindUKeyCertificate's input: the record, the certificate and the proof of possession. */
export interface BindUKeyCertificateInput {
  /** The pending UKey custody record. */
  id: string
  /** DER, base64, as the helper lists it. */
  certificate: string
  /** From createUKeyBindChallenge. */
  nonce: string
  /** The helper's signature over the challenge with the certificate's key, base64. */
  signature: string
}

export interface JoinRequest {
  id: string
  enterpriseID: string
  enterpriseName: string
  applicantName: string | null
  applicantMaskedPhone: string
  reason: string
  status: JoinRequestStatus
  rejectReason: string | null
  createdAt: string
  decidedAt: string | null
}

export interface TrailEvent {
  seq: number
  time: string
  action: string
  actionLabel: string
  actorName: string
  payload: string
}

export interface OrgChange {
  enterprise: Enterprise
  voidedSeals: number
  revokedCertificates: number
}

export interface UpdateOrganizationInput {
  name?: string
  creditCode?: string
  address?: string
  legalRepName?: string
  legalRepIdNumber?: string
}

export interface GrantSealInput {
  sealId: string
  userId: string
  validFrom: string
  validUntil: string
  scenes?: string[]
  counterparties?: string[]
}

export interface CreateSealInput {
  kind: SealKind
  name?: string
  horizontal?: string
}

const ENTERPRISE = 'id name creditCode address legalRepName legalRepIDMasked custody status certifiedAt recertifyRequired'
const SPACE = 'enterprise { id name } role'
const MEMBER = 'id userID role title memberName memberMaskedPhone createdAt'
const SEAL = 'id kind name status isDefault imageDataURL createdAt voidedAt voidedReason certificateID'
// The certificate edge only in the list: a seal returned by a mutation may
// come from its (committed) transaction, whose client cannot load edges.
const SEAL_LIST = `${SEAL} certificate { id custody ukeyType status }`
const SEAL_REF = 'id kind name status certificateID'
const GRANT = 'id sealID userID sealName granteeName validFrom validUntil scenes counterparties revokedAt createdAt'
const CERT = 'id kind custody ukeyType status serial subject fingerprint notBefore notAfter revokedAt boundAt'
const JOIN = 'id enterpriseID enterpriseName applicantName applicantMaskedPhone reason status rejectReason createdAt decidedAt'

const op = operation

export const consoleApi = {
  activeSpace: () =>
    client.request(op<{ activeSpace: ActiveSpace }>('ActiveSpace', `query ActiveSpace { activeSpace { ${SPACE} } }`)).then((d) => d.activeSpace),
  switchSpace: (enterpriseId: string | null) =>
    client
      .request(
        op<{ switchSpace: ActiveSpace }, { enterpriseId: string | null }>(
          'SwitchSpace',
          `mutation SwitchSpace($enterpriseId: ID) { switchSpace(enterpriseId: $enterpriseId) { ${SPACE} } }`,
        ),
        { enterpriseId },
      )
      .then((d) => d.switchSpace),
  enterprise: () =>
    client.request(op<{ consoleEnterprise: Enterprise }>('ConsoleEnterprise', `query ConsoleEnterprise { consoleEnterprise { ${ENTERPRISE} } }`)).then((d) => d.consoleEnterprise),
  updateOrganization: (input: UpdateOrganizationInput) =>
    client
      .request(
        op<{ updateOrganization: OrgChange }, { input: UpdateOrganizationInput }>(
          'UpdateOrganization',
          `mutation UpdateOrganization($input: UpdateOrganizationInput!) { updateOrganization(input: $input) { enterprise { ${ENTERPRISE} } voidedSeals revokedCertificates } }`,
        ),
        { input },
      )
      .then((d) => d.updateOrganization),
  members: () =>
    client.request(op<{ consoleMembers: Member[] }>('ConsoleMembers', `query ConsoleMembers { consoleMembers { ${MEMBER} } }`)).then((d) => d.consoleMembers),
  addMember: (phone: string, role: MembershipRole, title: string | null) =>
    client
      .request(
        op<{ addMember: Member }, { phone: string; role: MembershipRole; title: string | null }>(
          'AddMember',
          `mutation AddMember($phone: String!, $role: MembershipRole!, $title: String) { addMember(phone: $phone, role: $role, title: $title) { ${MEMBER} } }`,
        ),
        { phone, role, title },
      )
      .then((d) => d.addMember),
  updateMember: (id: string, role: MembershipRole, title: string | null) =>
    client
      .request(
        op<{ updateMember: Member }, { id: string; role: MembershipRole; title: string | null }>(
          'UpdateMember',
          `mutation UpdateMember($id: ID!, $role: MembershipRole, $title: String) { updateMember(id: $id, role: $role, title: $title) { ${MEMBER} } }`,
        ),
        { id, role, title },
      )
      .then((d) => d.updateMember),
  removeMember: (id: string) =>
    client
      .request(op<{ removeMember: boolean }, { id: string }>('RemoveMember', 'mutation RemoveMember($id: ID!) { removeMember(id: $id) }'), { id })
      .then((d) => d.removeMember),
  seals: () => client.request(op<{ consoleSeals: ConsoleSeal[] }>('ConsoleSeals', `query ConsoleSeals { consoleSeals { ${SEAL_LIST} } }`)).then((d) => d.consoleSeals),
  sealRefs: () =>
    client.request(op<{ consoleSeals: ConsoleSealRef[] }>('ConsoleSealRefs', `query ConsoleSealRefs { consoleSeals { ${SEAL_REF} } }`)).then((d) => d.consoleSeals),
  createSeal: (input: CreateSealInput) =>
    client
      .request(
        op<{ createSeal: ConsoleSeal }, { input: CreateSealInput }>('CreateSeal', `mutation CreateSeal($input: CreateSealInput!) { createSeal(input: $input) { ${SEAL} } }`),
        { input },
      )
      .then((d) => d.createSeal),
  setSealEnabled: (id: string, enabled: boolean) =>
    client
      .request(
        op<{ setSealEnabled: ConsoleSeal }, { id: string; enabled: boolean }>(
          'SetSealEnabled',
          `mutation SetSealEnabled($id: ID!, $enabled: Boolean!) { setSealEnabled(id: $id, enabled: $enabled) { ${SEAL} } }`,
        ),
        { id, enabled },
      )
      .then((d) => d.setSealEnabled),
  voidSeal: (id: string, reason: string | null) =>
    client
      .request(
        op<{ voidSeal: ConsoleSeal }, { id: string; reason: string | null }>('VoidSeal', `mutation VoidSeal($id: ID!, $reason: String) { voidSeal(id: $id, reason: $reason) { ${SEAL} } }`),
        { id, reason },
      )
      .then((d) => d.voidSeal),
  grants: () =>
    client.request(op<{ consoleSealGrants: SealGrant[] }>('ConsoleSealGrants', `query ConsoleSealGrants { consoleSealGrants { ${GRANT} } }`)).then((d) => d.consoleSealGrants),
  grantSeal: (input: GrantSealInput) =>
    client
      .request(op<{ grantSeal: SealGrant }, { input: GrantSealInput }>('GrantSeal', `mutation GrantSeal($input: GrantSealInput!) { grantSeal(input: $input) { ${GRANT} } }`), { input })
      .then((d) => d.grantSeal),
  revokeSealGrant: (id: string) =>
    client
      .request(op<{ revokeSealGrant: SealGrant }, { id: string }>('RevokeSealGrant', `mutation RevokeSealGrant($id: ID!) { revokeSealGrant(id: $id) { ${GRANT} } }`), { id })
      .then((d) => d.revokeSealGrant),
  certificates: () =>
    client
      .request(op<{ consoleCertificates: ConsoleCertificate[] }>('ConsoleCertificates', `query ConsoleCertificates { consoleCertificates { ${CERT} } }`))
      .then((d) => d.consoleCertificates),
  renewCertificate: (id: string) =>
    client
      .request(op<{ renewCertificate: ConsoleCertificate }, { id: string }>('RenewCertificate', `mutation RenewCertificate($id: ID!) { renewCertificate(id: $id) { ${CERT} } }`), { id })
      .then((d) => d.renewCertificate),
  revokeCertificate: (id: string) =>
    client
      .request(op<{ revokeCertificate: ConsoleCertificate }, { id: string }>('RevokeCertificate', `mutation RevokeCertificate($id: ID!) { revokeCertificate(id: $id) { ${CERT} } }`), { id })
      .then((d) => d.revokeCertificate),
  /**
   * createUKeyBindChallenge checks that the certificate read from the
   * enterprise's UKey (DER, base64, as the helper lists it) may be bound to
   * the pending UKey custody record (platform CA, validity, the enterprise's
   * name and credit code, not bound elsewhere, 一key一章) and returns the
   * challenge the helper signs with its key (api/ukeybind.ts).
   */
  createUKeyBindChallenge: (id: string, certificate: string) =>
    client
      .request(
        op<{ createUKeyBindChallenge: CertificateChallenge }, { id: string; certificate: string }>(
          'CreateUKeyBindChallenge',
          'mutation CreateUKeyBindChallenge($id: ID!, $certificate: String!) { createUKeyBindChallenge(id: $id, certificate: $certificate) { nonce text digest expiresAt } }',
        ),
        { id, certificate },
      )
      .then((d) => d.createUKeyBindChallenge),
  /**
   * bindUKeyCertificate binds the certificate to the record and its seals
   * with the helper's signature over the challenge (proof that the UKey
   * holds the key); the server checks the certificate again.
   */
  bindUKeyCertificate: (input: BindUKeyCertificateInput) =>
    client
      .request(
        op<{ bindUKeyCertificate: ConsoleCertificate }, { input: BindUKeyCertificateInput }>(
          'BindUKeyCertificate',
          `mutation BindUKeyCertificate($input: BindUKeyCertificateInput!) { bindUKeyCertificate(input: $input) { ${CERT} } }`,
        ),
        { input },
      )
      .then((d) => d.bindUKeyCertificate),
  joinRequests: (status: JoinRequestStatus | null) =>
    client
      .request(
        op<{ consoleJoinRequests: JoinRequest[] }, { status: JoinRequestStatus | null }>(
          'ConsoleJoinRequests',
          `query ConsoleJoinRequests($status: JoinRequestStatus) { consoleJoinRequests(status: $status) { ${JOIN} } }`,
        ),
        { status },
      )
      .then((d) => d.consoleJoinRequests),
  decideJoinRequest: (id: string, approve: boolean, reason: string | null) =>
    client
      .request(
        op<{ decideJoinRequest: JoinRequest }, { id: string; approve: boolean; reason: string | null }>(
          'DecideJoinRequest',
          `mutation DecideJoinRequest($id: ID!, $approve: Boolean!, $reason: String) { decideJoinRequest(id: $id, approve: $approve, reason: $reason) { ${JOIN} } }`,
        ),
        { id, approve, reason },
      )
      .then((d) => d.decideJoinRequest),
  trail: (after: number | null, first = 50) =>
    client
      .request(
        op<{ consoleTrail: { events: TrailEvent[]; next: number | null } }, { after: number | null; first: number }>(
          'ConsoleTrail',
          'query ConsoleTrail($after: Int, $first: Int) { consoleTrail(after: $after, first: $first) { events { seq time action actionLabel actorName payload } next } }',
        ),
        { after, first },
      )
      .then((d) => d.consoleTrail),
}

export interface CertifiedEnterprise {
  enterprise: { id: string; name: string; creditCode: string; status: string }
  order: { id: string; stepTitle: string; canRevoke: boolean } | null
  statusTitle: string
}

export interface JoinedEnterprise {
  enterpriseId: string
  enterpriseName: string
  creditCode: string
  role: MembershipRole | null
  request: { id: string; status: JoinRequestStatus; reason: string; rejectReason: string | null; createdAt: string } | null
}

export interface MyEnterprises {
  certified: CertifiedEnterprise[]
  joined: JoinedEnterprise[]
}

export const enterpriseApi = {
  myEnterprises: (search: string | null = null) =>
    client
      .request(
        op<{ myEnterprises: MyEnterprises }, { search: string | null }>(
          'MyEnterprises',
          `query MyEnterprises($search: String) { myEnterprises(search: $search) {
  certified { enterprise { id name creditCode status } order { id stepTitle canRevoke } statusTitle }
  joined { enterpriseId enterpriseName creditCode role request { id status reason rejectReason createdAt } }
} }`,
        ),
        { search },
      )
      .then((d) => d.myEnterprises),
  requestJoin: (enterpriseName: string, reason: string) =>
    client
      .request(
        op<{ requestJoinEnterprise: JoinRequest }, { enterpriseName: string; reason: string }>(
          'RequestJoinEnterprise',
          `mutation RequestJoinEnterprise($enterpriseName: String!, $reason: String!) { requestJoinEnterprise(enterpriseName: $enterpriseName, reason: $reason) { ${JOIN} } }`,
        ),
        { enterpriseName, reason },
      )
      .then((d) => d.requestJoinEnterprise),
  revokeJoinRequest: (id: string) =>
    client
      .request(op<{ revokeJoinRequest: JoinRequest }, { id: string }>('RevokeJoinRequest', `mutation RevokeJoinRequest($id: ID!) { revokeJoinRequest(id: $id) { ${JOIN} } }`), { id })
      .then((d) => d.revokeJoinRequest),
  rejoin: (id: string, reason: string | null) =>
    client
      .request(
        op<{ rejoinEnterprise: JoinRequest }, { id: string; reason: string | null }>(
          'RejoinEnterprise',
          `mutation RejoinEnterprise($id: ID!, $reason: String) { rejoinEnterprise(id: $id, reason: $reason) { ${JOIN} } }`,
        ),
        { id, reason },
      )
      .then((d) => d.rejoinEnterprise),
}

export type { SentCode }

// ---- 认证企业: the certification order ----

export type CertOrderStep = 'application' | 'preview' | 'authorization' | 'documents' | 'confirmation' | 'payment' | 'review' | 'approved' | 'rejected'
export type CertOrderMethod = 'bank_transfer' | 'legal_rep_phone' | 'legal_rep_bank_card'
export type CertDocumentKind = 'authorization_letter' | 'business_license' | 'applicant_id_front' | 'applicant_id_back'
export type PaymentChannel = 'alipay' | 'wechat'

export interface CertOrder {
  id: string
  step: CertOrderStep
  stepTitle: string
  canRevoke: boolean
  kind: string
  method: CertOrderMethod | null
  applicantName: string | null
  applicantIDMasked: string | null
  applicantPhone: string | null
  legalRepPhone: string | null
  legalRepCardMasked: string | null
  bankName: string | null
  bankAccountMasked: string | null
  feeCents: number
  paymentChannel: PaymentChannel | null
  paymentQr: string | null
  paymentQRDataURL: string | null
  paidAt: string | null
  submittedAt: string | null
  decidedAt: string | null
  rejectReason: string | null
  revokedAt: string | null
  enterprise: { id: string; name: string; creditCode: string; address: string; legalRepName: string; legalRepIDMasked: string; custody: string; ukeyType: string | null; status: string }
  documents: { id: string; kind: CertDocumentKind; fileName: string; size: number; downloadURL: string }[] | null
}

export interface StartCertificationInput {
  name: string
  creditCode: string
  address: string
  legalRepName: string
  legalRepIdNumber: string
  custody: 'hosted' | 'ukey'
  ukeyType?: 'one_key_one_seal' | 'one_key_many_seals' | null
}

export interface CertApplicationInput {
  method: CertOrderMethod
  applicantName: string
  applicantIdNumber: string
  applicantPhone: string
  legalRepPhone: string
  legalRepBankCard?: string | null
  bankName?: string | null
  bankAccount?: string | null
  agreementAccepted: boolean
}

const ORDER = `id step stepTitle canRevoke kind method applicantName applicantIDMasked applicantPhone legalRepPhone legalRepCardMasked bankName bankAccountMasked
  feeCents paymentChannel paymentQr paymentQRDataURL paidAt submittedAt decidedAt rejectReason revokedAt
  enterprise { id name creditCode address legalRepName legalRepIDMasked custody ukeyType status }
  documents { id kind fileName size downloadURL }`

// A mutation selects only the order's id and the order is read again: the
// server cannot load an order's edges (enterprise, documents) on a mutation's
// result once its transaction has ended ("transaction has already been
// committed or rolled back").
function orderMutation<V extends Record<string, unknown>>(field: string, args: string, params: string) {
  return async (vars: V): Promise<CertOrder> => {
    const d = await client.request(op<Record<string, { id: string }>, Record<string, unknown>>(field, `mutation ${field}(${params}) { ${field}(${args}) { id } }`), vars)
    return certApi.order(d[field]!.id)
  }
}

export const certApi = {
  order: (id: string) =>
    client
      .request(op<{ certificationOrder: CertOrder }, { id: string }>('CertificationOrder', `query CertificationOrder($id: ID!) { certificationOrder(id: $id) { ${ORDER} } }`), { id })
      .then((d) => d.certificationOrder),
  start: orderMutation<{ input: StartCertificationInput }>('startEnterpriseCertification', 'input: $input', '$input: StartCertificationInput!'),
  saveApplication: orderMutation<{ orderId: string; input: CertApplicationInput }>('saveCertApplication', 'orderId: $orderId, input: $input', '$orderId: ID!, $input: CertApplicationInput!'),
  backToEdit: orderMutation<{ orderId: string }>('backToEditCertOrder', 'orderId: $orderId', '$orderId: ID!'),
  confirm: orderMutation<{ orderId: string; input: { legalRepBankCard?: string | null; bankAccount?: string | null } | null }>(
    'confirmCertOrder',
    'orderId: $orderId, input: $input',
    '$orderId: ID!, $input: ConfirmCertOrderInput',
  ),
  verifyAuthorization: orderMutation<{ orderId: string; code: string; amount: string | null }>(
    'verifyCertAuthorization',
    'orderId: $orderId, code: $code, amount: $amount',
    '$orderId: ID!, $code: String!, $amount: String',
  ),
  submitDocuments: orderMutation<{ orderId: string }>('submitCertDocuments', 'orderId: $orderId', '$orderId: ID!'),
  confirmApplication: orderMutation<{ orderId: string; code: string; agreementAccepted: boolean }>(
    'confirmCertApplication',
    'orderId: $orderId, code: $code, agreementAccepted: $agreementAccepted',
    '$orderId: ID!, $code: String!, $agreementAccepted: Boolean!',
  ),
  pay: orderMutation<{ orderId: string; channel: PaymentChannel }>('payCertOrder', 'orderId: $orderId, channel: $channel', '$orderId: ID!, $channel: CertOrderPaymentChannel!'),
  refresh: orderMutation<{ orderId: string }>('refreshCertOrder', 'orderId: $orderId', '$orderId: ID!'),
  revoke: orderMutation<{ orderId: string }>('revokeEnterpriseCertification', 'orderId: $orderId', '$orderId: ID!'),
  continue: orderMutation<{ orderId: string }>('continueEnterpriseCertification', 'orderId: $orderId', '$orderId: ID!'),
  resendAuthorizationCode: (orderId: string) =>
    client
      .request(
        op<{ resendCertAuthorizationCode: SentCode }, { orderId: string }>(
          'ResendCertAuthorizationCode',
          'mutation ResendCertAuthorizationCode($orderId: ID!) { resendCertAuthorizationCode(orderId: $orderId) { maskedPhone resendAfterSeconds expiresAt } }',
        ),
        { orderId },
      )
      .then((d) => d.resendCertAuthorizationCode),
  sendConfirmationCode: (orderId: string) =>
    client
      .request(
        op<{ sendCertConfirmationCode: SentCode }, { orderId: string }>(
          'SendCertConfirmationCode',
          'mutation SendCertConfirmationCode($orderId: ID!) { sendCertConfirmationCode(orderId: $orderId) { maskedPhone resendAfterSeconds expiresAt } }',
        ),
        { orderId },
      )
      .then((d) => d.sendCertConfirmationCode),
  letterTemplate: (orderId: string) =>
    client
      .request(
        op<{ authorizationLetterTemplate: { fileName: string; contentType: string; dataURL: string } }, { orderId: string }>(
          'AuthorizationLetterTemplate',
          'query AuthorizationLetterTemplate($orderId: ID!) { authorizationLetterTemplate(orderId: $orderId) { fileName contentType dataURL } }',
        ),
        { orderId },
      )
      .then((d) => d.authorizationLetterTemplate),
}
