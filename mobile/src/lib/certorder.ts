// 认证企业: the certification order's steps as the wizard shows them, and the
// client checks of each form (the server's rules still decide).
import type { CertApplicationInput, CertDocumentKind, CertOrderMethod, CertOrderStep } from '../api/enterprise'

export const WIZARD_STEPS: { step: CertOrderStep | 'start'; title: string }[] = [
  { step: 'start', title: '企业信息' },
  { step: 'application', title: '认证方式' },
  { step: 'preview', title: '订单预览' },
  { step: 'authorization', title: '授权码验证' },
  { step: 'documents', title: '上传材料' },
  { step: 'confirmation', title: '签名确认' },
  { step: 'payment', title: '订单支付' },
  { step: 'review', title: '审核' },
]

/** stepIndex is the wizard position of an order step (approved/rejected: the last). */
export function stepIndex(step: CertOrderStep | 'start'): number {
  if (step === 'approved' || step === 'rejected') return WIZARD_STEPS.length - 1
  const i = WIZARD_STEPS.findIndex((s) => s.step === step)
  return i < 0 ? 0 : i
}

export const METHODS: { value: CertOrderMethod; title: string; hint: string }[] = [
  { value: 'bank_transfer', title: '企业对公打款认证', hint: '平台向企业对公账户打入一笔随机金额，回填金额完成认证' },
  { value: 'legal_rep_phone', title: '法定代表人手机实名认证', hint: '核验法定代表人本人实名登记的手机号' },
  { value: 'legal_rep_bank_card', title: '法定代表人银行卡信息认证', hint: '核验法定代表人本人的银行卡信息' },
]

export function methodTitle(m: CertOrderMethod | null | undefined): string {
  return METHODS.find((x) => x.value === m)?.title ?? '—'
}

export const DOCUMENTS: { kind: CertDocumentKind; title: string; pdf: boolean }[] = [
  { kind: 'authorization_letter', title: '《法人授权委托书》（加盖单位公章和相关人员签字）', pdf: true },
  { kind: 'business_license', title: '营业执照副本或复印件（复印件须加盖单位公章）', pdf: true },
  { kind: 'applicant_id_front', title: '经办人身份证人像面', pdf: false },
  { kind: 'applicant_id_back', title: '经办人身份证国徽面', pdf: false },
]

/** checkDocument returns a message for a file the server would refuse, or null. */
export function checkDocument(kind: CertDocumentKind, file: { name: string; size: number; type: string }): string | null {
  const pdf = file.type === 'application/pdf' || /\.pdf$/i.test(file.name)
  const image = /^image\/(jpeg|png)$/.test(file.type) || /\.(jpe?g|png)$/i.test(file.name)
  const allowPdf = DOCUMENTS.find((d) => d.kind === kind)?.pdf ?? false
  if (!image && !(allowPdf && pdf)) return allowPdf ? '请上传 JPG、PNG 或 PDF 文件' : '请上传 JPG 或 PNG 图片'
  if (file.size === 0) return '文件为空'
  if (file.size > 5 << 20) return '文件超过5MB，请压缩后上传'
  return null
}

/** missingDocuments lists the titles of the documents not yet uploaded. */
export function missingDocuments(uploaded: { kind: CertDocumentKind }[] | null | undefined): string[] {
  const have = new Set((uploaded ?? []).map((d) => d.kind))
  return DOCUMENTS.filter((d) => !have.has(d.kind)).map((d) => d.title)
}

export interface ApplicationForm {
  method: CertOrderMethod
  applicantName: string
  applicantIdNumber: string
  applicantPhone: string
  legalRepPhone: string
  legalRepBankCard: string
  bankName: string
  bankAccount: string
  agreementAccepted: boolean
}

/** applicationInput checks the form and keeps only what the method needs. */
export function applicationInput(f: ApplicationForm): { input: CertApplicationInput } | { field: string; message: string } {
  const t = (s: string) => s.replace(/\s+/g, '')
  if (!f.applicantName.trim()) return { field: 'applicantName', message: '请填写经办人姓名' }
  if (!t(f.applicantIdNumber)) return { field: 'applicantIdNumber', message: '请填写经办人身份证号' }
  if (!/^1\d{10}$/.test(t(f.applicantPhone))) return { field: 'applicantPhone', message: '请填写正确的经办人手机号' }
  if (!/^1\d{10}$/.test(t(f.legalRepPhone))) return { field: 'legalRepPhone', message: '请填写正确的法定代表人手机号' }
  const input: CertApplicationInput = {
    method: f.method,
    applicantName: f.applicantName.trim(),
    applicantIdNumber: t(f.applicantIdNumber).toUpperCase(),
    applicantPhone: t(f.applicantPhone),
    legalRepPhone: t(f.legalRepPhone),
    agreementAccepted: f.agreementAccepted,
  }
  if (f.method === 'legal_rep_bank_card') {
    if (!t(f.legalRepBankCard)) return { field: 'legalRepBankCard', message: '请填写法定代表人银行卡号' }
    input.legalRepBankCard = t(f.legalRepBankCard)
  }
  if (f.method === 'bank_transfer') {
    if (!f.bankName.trim()) return { field: 'bankName', message: '请填写开户银行' }
    if (!t(f.bankAccount)) return { field: 'bankAccount', message: '请填写对公账号' }
    input.bankName = f.bankName.trim()
    input.bankAccount = t(f.bankAccount)
  }
  if (!f.agreementAccepted) return { field: 'agreementAccepted', message: '请阅读并勾选相关协议' }
  return { input }
}

/** feeText shows a fee in yuan. */
export function feeText(cents: number): string {
  return `¥${(cents / 100).toFixed(2)}`
}
