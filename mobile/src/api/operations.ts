// Typed operations of the accounts API (graph/accounts.graphql). Types are
// written by hand to match the selections below.
import { client, operation } from './client'

export type SMSPurpose = 'REGISTER' | 'LOGIN' | 'RESET_PASSWORD' | 'CHANGE_PHONE_OLD' | 'CHANGE_PHONE_NEW'
export type AgreementDocumentKind = 'service_agreement' | 'privacy_statement'
export type SessionMethod = 'sms' | 'password' | 'certificate'

export interface Agreement {
  document: AgreementDocumentKind
  title: string
  version: string
  url: string
}

export interface Me {
  id: string
  name: string | null
  maskedPhone: string
  hasPassword: boolean
}

export interface SessionInfo {
  id: string
  method: SessionMethod
  ip: string | null
  userAgent: string | null
  createdAt: string
  lastSeenAt: string
  current: boolean
}

export interface AuthPayload {
  token: string
  user: Me
}

export interface SentCode {
  maskedPhone: string
  resendAfterSeconds: number
  expiresAt: string
}

export interface Captcha {
  key: string
  imageDataURL: string
  expiresAt: string
}

export interface RegisterInput {
  phone: string
  password: string
  passwordConfirm: string
  code: string
  serviceAgreementVersion: string
  privacyStatementVersion: string
}

export interface LoginBySMSInput {
  phone: string
  code: string
}

export interface LoginByPasswordInput {
  phone: string
  password: string
  captchaKey: string
  captchaAnswer: string
}

export interface ResetPasswordInput {
  phone: string
  newPassword: string
  newPasswordConfirm: string
  code: string
}

export interface ChangePasswordInput {
  oldPassword: string
  newPassword: string
  newPasswordConfirm: string
}

export interface ChangePhoneInput {
  ticket: string
  newPhone: string
  code: string
}

const ME_FIELDS = 'id name maskedPhone hasPassword'
const AUTH_FIELDS = `token user { ${ME_FIELDS} }`

export const AgreementsQuery = operation<{ agreements: Agreement[] }>(
  'Agreements',
  'query Agreements { agreements { document title version url } }',
)

export const MeQuery = operation<{ me: Me }>('Me', `query Me { me { ${ME_FIELDS} } }`)

export const MySessionsQuery = operation<
  { me: { id: string; sessions: { totalCount: number; edges: ({ node: SessionInfo | null } | null)[] | null } } },
  { now: string }
>(
  'MySessions',
  `query MySessions($now: Time!) {
  me {
    id
    sessions(first: 100, where: { revokedAtIsNil: true, expiresAtGT: $now }) {
      totalCount
      edges { node { id method ip userAgent createdAt lastSeenAt current } }
    }
  }
}`,
)

export const SendSMSCodeMutation = operation<{ sendSMSCode: SentCode }, { purpose: SMSPurpose; phone: string | null }>(
  'SendSMSCode',
  `mutation SendSMSCode($purpose: SMSPurpose!, $phone: String) {
  sendSMSCode(input: { purpose: $purpose, phone: $phone }) { maskedPhone resendAfterSeconds expiresAt }
}`,
)

export const RegisterMutation = operation<{ register: AuthPayload }, { input: RegisterInput }>(
  'Register',
  `mutation Register($input: RegisterInput!) { register(input: $input) { ${AUTH_FIELDS} } }`,
)

export const LoginBySMSMutation = operation<{ loginBySMS: AuthPayload }, { input: LoginBySMSInput }>(
  'LoginBySMS',
  `mutation LoginBySMS($input: LoginBySMSInput!) { loginBySMS(input: $input) { ${AUTH_FIELDS} } }`,
)

export const NewCaptchaMutation = operation<{ newCaptcha: Captcha }>(
  'NewCaptcha',
  'mutation NewCaptcha { newCaptcha { key imageDataURL expiresAt } }',
)

export const LoginByPasswordMutation = operation<{ loginByPassword: AuthPayload }, { input: LoginByPasswordInput }>(
  'LoginByPassword',
  `mutation LoginByPassword($input: LoginByPasswordInput!) { loginByPassword(input: $input) { ${AUTH_FIELDS} } }`,
)

export const ResetPasswordMutation = operation<{ resetPassword: boolean }, { input: ResetPasswordInput }>(
  'ResetPassword',
  'mutation ResetPassword($input: ResetPasswordInput!) { resetPassword(input: $input) }',
)

export const ChangePasswordMutation = operation<{ changePassword: boolean }, { input: ChangePasswordInput }>(
  'ChangePassword',
  'mutation ChangePassword($input: ChangePasswordInput!) { changePassword(input: $input) }',
)

export const VerifyOldPhoneMutation = operation<{ verifyOldPhone: { ticket: string; expiresAt: string } }, { code: string }>(
  'VerifyOldPhone',
  'mutation VerifyOldPhone($code: String!) { verifyOldPhone(code: $code) { ticket expiresAt } }',
)

export const ChangePhoneMutation = operation<{ changePhone: Me }, { input: ChangePhoneInput }>(
  'ChangePhone',
  `mutation ChangePhone($input: ChangePhoneInput!) { changePhone(input: $input) { ${ME_FIELDS} } }`,
)

export const LogoutMutation = operation<{ logout: boolean }>('Logout', 'mutation Logout { logout }')

export const RevokeSessionMutation = operation<{ revokeSession: boolean }, { id: string }>(
  'RevokeSession',
  'mutation RevokeSession($id: ID!) { revokeSession(id: $id) }',
)

export const HeartbeatSubscription = operation<{ heartbeat: string }, { intervalSeconds: number }>(
  'Heartbeat',
  'subscription Heartbeat($intervalSeconds: Int!) { heartbeat(intervalSeconds: $intervalSeconds) }',
)

/** The accounts API as plain async functions. */
export const accountsApi = {
  agreements: () => client.request(AgreementsQuery).then((d) => d.agreements),
  me: () => client.request(MeQuery).then((d) => d.me),
  async mySessions(now = new Date()): Promise<SessionInfo[]> {
    const d = await client.request(MySessionsQuery, { now: now.toISOString() })
    return (d.me.sessions.edges ?? []).flatMap((e) => (e?.node ? [e.node] : []))
  },
  sendSMSCode: (purpose: SMSPurpose, phone: string | null) =>
    client.request(SendSMSCodeMutation, { purpose, phone }).then((d) => d.sendSMSCode),
  register: (input: RegisterInput) => client.request(RegisterMutation, { input }).then((d) => d.register),
  loginBySMS: (input: LoginBySMSInput) => client.request(LoginBySMSMutation, { input }).then((d) => d.loginBySMS),
  newCaptcha: () => client.request(NewCaptchaMutation).then((d) => d.newCaptcha),
  loginByPassword: (input: LoginByPasswordInput) =>
    client.request(LoginByPasswordMutation, { input }).then((d) => d.loginByPassword),
  resetPassword: (input: ResetPasswordInput) =>
    client.request(ResetPasswordMutation, { input }).then((d) => d.resetPassword),
  changePassword: (input: ChangePasswordInput) =>
    client.request(ChangePasswordMutation, { input }).then((d) => d.changePassword),
  verifyOldPhone: (code: string) => client.request(VerifyOldPhoneMutation, { code }).then((d) => d.verifyOldPhone),
  changePhone: (input: ChangePhoneInput) => client.request(ChangePhoneMutation, { input }).then((d) => d.changePhone),
  logout: () => client.request(LogoutMutation).then((d) => d.logout),
  revokeSession: (id: string) => client.request(RevokeSessionMutation, { id }).then((d) => d.revokeSession),
}
