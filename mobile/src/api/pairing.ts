// Typed operations of QR handwriting and personal seals (graph/pairing.graphql).
import { client, operation } from './client'
import { subscriptions } from './ws'

export type PairingStatus = 'WAITING' | 'COMPLETED' | 'EXPIRED' | 'INVALID'

export interface PersonalSeal {
  id: string
  kind: 'personal' | 'handwritten' | string
  name: string
  width: number
  height: number
  isDefault: boolean
  certificateID: string | null
  createdAt: string
  imageDataURL: string
}

export interface Pairing {
  id: string
  status: PairingStatus
  expiresAt: string
  seal: PersonalSeal | null
}

export interface PairingTicket {
  pairing: Pairing
  token: string
  url: string
  qrImageURL: string
}

export interface PairingInfo {
  status: PairingStatus
  message: string | null
  expiresAt: string | null
  ownerName: string | null
}

const SEAL = 'id kind name width height isDefault certificateID createdAt imageDataURL'
const PAIRING = `id status expiresAt seal { ${SEAL} }`

export const MyPersonalSealsQuery = operation<{ myPersonalSeals: PersonalSeal[] }>(
  'MyPersonalSeals',
  `query MyPersonalSeals { myPersonalSeals { ${SEAL} } }`,
)

export const CreateHandwritingPairingMutation = operation<{ createHandwritingPairing: PairingTicket }>(
  'CreateHandwritingPairing',
  `mutation CreateHandwritingPairing { createHandwritingPairing { pairing { ${PAIRING} } token url qrImageURL } }`,
)

export const PairingInfoQuery = operation<{ pairingInfo: PairingInfo }, { token: string }>(
  'PairingInfo',
  'query PairingInfo($token: String!) { pairingInfo(token: $token) { status message expiresAt ownerName } }',
)

export const SubmitHandwritingMutation = operation<
  { submitHandwriting: PairingInfo },
  { input: { token: string; png: string; strokes: string } }
>(
  'SubmitHandwriting',
  'mutation SubmitHandwriting($input: SubmitHandwritingInput!) { submitHandwriting(input: $input) { status message } }',
)

export const SetDefaultPersonalSealMutation = operation<{ setDefaultPersonalSeal: { id: string } }, { id: string }>(
  'SetDefaultPersonalSeal',
  'mutation SetDefaultPersonalSeal($id: ID!) { setDefaultPersonalSeal(id: $id) { id isDefault } }',
)

export const DeletePersonalSealMutation = operation<{ deletePersonalSeal: boolean }, { id: string }>(
  'DeletePersonalSeal',
  'mutation DeletePersonalSeal($id: ID!) { deletePersonalSeal(id: $id) }',
)

export const PairingUpdatedSubscription = operation<{ pairingUpdated: Pairing }, { id: string }>(
  'PairingUpdated',
  `subscription PairingUpdated($id: ID!) { pairingUpdated(id: $id) { ${PAIRING} } }`,
)

export const pairingApi = {
  seals: () => client.request(MyPersonalSealsQuery).then((d) => d.myPersonalSeals),
  setDefault: (id: string) => client.request(SetDefaultPersonalSealMutation, { id }),
  remove: (id: string) => client.request(DeletePersonalSealMutation, { id }),
  create: () => client.request(CreateHandwritingPairingMutation).then((d) => d.createHandwritingPairing),
  info: (token: string) => client.request(PairingInfoQuery, { token }).then((d) => d.pairingInfo),
  submit: (token: string, png: string, strokes: string) =>
    client.request(SubmitHandwritingMutation, { input: { token, png, strokes } }).then((d) => d.submitHandwriting),
  /** watch calls fn with the pairing now and when it completes or expires. */
  watch: (id: string, fn: (p: Pairing) => void, onError?: (msg: string) => void) =>
    subscriptions().subscribe(PairingUpdatedSubscription, { id }, {
      next: (d) => fn(d.pairingUpdated),
      error: (e) => onError?.(e.message),
    }),
}
