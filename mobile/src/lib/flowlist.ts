// 文件管理: the seven lists, the search filter built from the form, and which
// row actions a flow offers to the viewer. The server enforces every action;
// this only decides which buttons to show.
import type { FlowCounts, FlowList, FlowListFilter, FlowScene, FlowSummary } from '../api/flows'
import { isMine } from './signing'

export interface ListDef {
  list: FlowList
  key: keyof FlowCounts
  label: string
}

export const LISTS: ListDef[] = [
  { list: 'TODO', key: 'todo', label: '待办' },
  { list: 'DRAFTS', key: 'drafts', label: '草稿' },
  { list: 'DONE', key: 'done', label: '已办' },
  { list: 'INITIATED', key: 'initiated', label: '我发起的' },
  { list: 'CC', key: 'cc', label: '抄送我的' },
  { list: 'COMPLETED', key: 'completed', label: '已完成' },
  { list: 'VOIDED', key: 'voided', label: '已作废' },
]

/** listFromQuery reads ?list=todo (any case); unknown values give 待办. */
export function listFromQuery(v: unknown): ListDef {
  const s = typeof v === 'string' ? v.toUpperCase() : ''
  return LISTS.find((l) => l.list === s) ?? LISTS[0]!
}

export interface SearchForm {
  keyword: string
  party: string
  contract: string
  scene: FlowScene | ''
  /** yyyy-mm-dd from <input type=date>, local time */
  sentFrom: string
  sentTo: string
  deadlineFrom: string
  deadlineTo: string
}

export const emptySearch = (): SearchForm => ({
  keyword: '',
  party: '',
  contract: '',
  scene: '',
  sentFrom: '',
  sentTo: '',
  deadlineFrom: '',
  deadlineTo: '',
})

/** dayStart / dayEnd turn a local yyyy-mm-dd into the instant its day begins / ends. */
export function dayStart(d: string): string {
  const [y, m, day] = d.split('-').map(Number)
  return new Date(y!, m! - 1, day!, 0, 0, 0, 0).toISOString()
}
export function dayEnd(d: string): string {
  const [y, m, day] = d.split('-').map(Number)
  return new Date(y!, m! - 1, day!, 23, 59, 59, 999).toISOString()
}

/** toFilter builds the API filter; null when the form is empty. */
export function toFilter(f: SearchForm): FlowListFilter | null {
  const out: FlowListFilter = {}
  if (f.keyword.trim()) out.keyword = f.keyword.trim()
  if (f.party.trim()) out.party = f.party.trim()
  if (f.contract.trim()) out.contract = f.contract.trim()
  if (f.scene) out.scene = f.scene
  if (f.sentFrom) out.sentFrom = dayStart(f.sentFrom)
  if (f.sentTo) out.sentTo = dayEnd(f.sentTo)
  if (f.deadlineFrom) out.deadlineFrom = dayStart(f.deadlineFrom)
  if (f.deadlineTo) out.deadlineTo = dayEnd(f.deadlineTo)
  return Object.keys(out).length > 0 ? out : null
}

/** checkSearch returns a message for a reversed date range, or null. */
export function checkSearch(f: SearchForm): string | null {
  if (f.sentFrom && f.sentTo && f.sentFrom > f.sentTo) return '发起时间的开始日期不能晚于结束日期'
  if (f.deadlineFrom && f.deadlineTo && f.deadlineFrom > f.deadlineTo) return '截止时间的开始日期不能晚于结束日期'
  return null
}

export type RowAction = 'sign' | 'remind' | 'revoke' | 'delete' | 'edit' | 'view' | 'download' | 'trail'

export interface ViewerRef {
  id: string
  phone: string
}

/** rowActions lists the buttons a row shows, in display order. */
export function rowActions(f: FlowSummary, v: ViewerRef): RowAction[] {
  const mine = f.initiatorID === v.id
  const signers = (f.participants ?? []).filter((p) => p.role === 'signer')
  const myTurn = signers.some((p) => p.status === 'pending' && isMine(p, v))
  const out: RowAction[] = []
  if (f.status === 'draft') {
    if (mine) out.push('edit', 'delete')
    return out
  }
  if (f.status === 'signing' && myTurn) out.push('sign')
  if (f.status === 'signing' && signers.some((p) => p.status === 'pending' && !isMine(p, v))) out.push('remind')
  if (f.status === 'signing' && mine) out.push('revoke')
  out.push('view', 'download', 'trail')
  if (f.status === 'revoked' || f.status === 'declined' || f.status === 'expired') out.push('delete')
  return out
}

export const ACTION_LABELS: Record<RowAction, string> = {
  sign: '签署',
  remind: '催办',
  revoke: '撤销',
  delete: '删除',
  edit: '编辑',
  view: '预览',
  download: '下载',
  trail: '轨迹',
}
