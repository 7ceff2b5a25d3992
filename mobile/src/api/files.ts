// The plain-HTTP file endpoints (server/files.go): uploading a PDF to a draft
// (multipart) and reading a document's current PDF, both with the bearer
// token. Errors come back GraphQL-shaped ({errors: [{message, extensions}]})
// and become the same ApiError the GraphQL client throws.
import { ApiError, fromGraphQLErrors, MESSAGE_INTERNAL, toApiError, type GraphQLErrorLike } from './errors'
import { tokens as pageTokens, type TokenStore } from './token'
import type { PageSize } from './flows'
import type { Verification } from './verification'

export interface UploadedDocument {
  id: string
  name: string
  pages: PageSize[]
  sha256: string
}

export interface FilesOptions {
  fetch?: typeof fetch
  tokens?: TokenStore
}

/** The largest upload the client sends (the server's own limit is 20 MB). */
export const MAX_UPLOAD_BYTES = 20 << 20

/** checkUpload returns a message for a file the server would refuse, or null. */
export function checkUpload(file: { name: string; size: number; type: string }): string | null {
  const pdf = file.type === 'application/pdf' || /\.pdf$/i.test(file.name)
  if (!pdf) return `“${file.name}”不是 PDF 文件，请上传 PDF 格式的合同`
  if (file.size === 0) return `“${file.name}”是空文件`
  if (file.size > MAX_UPLOAD_BYTES) return `“${file.name}”超过20MB，请压缩后上传`
  return null
}

/** contractName is the name a document gets from its file name: without .pdf. */
export function contractName(fileName: string): string {
  return fileName.replace(/\.pdf$/i, '').trim() || fileName
}

async function failure(res: Response): Promise<ApiError> {
  try {
    const body = (await res.json()) as { errors?: GraphQLErrorLike[] }
    if (body.errors?.length) return fromGraphQLErrors(body.errors)
  } catch {
    // not JSON: a proxy's page
  }
  return new ApiError('INTERNAL', MESSAGE_INTERNAL, undefined, `HTTP ${res.status}`)
}

export function createFiles(opts: FilesOptions = {}) {
  const store = opts.tokens ?? pageTokens
  const doFetch = opts.fetch ?? ((...a: Parameters<typeof fetch>) => fetch(...a))
  const auth = (): Record<string, string> => {
    const t = store.get()
    return t ? { Authorization: `Bearer ${t}` } : {}
  }
  return {
    /** upload adds a PDF to a draft flow; the server normalises and checks it. */
    async upload(flowID: string, file: Blob, name: string): Promise<UploadedDocument> {
      const form = new FormData()
      form.append('name', name)
      form.append('file', file, `${name}.pdf`)
      let res: Response
      try {
        res = await doFetch(`/files/flows/${encodeURIComponent(flowID)}/documents`, { method: 'POST', headers: auth(), body: form })
      } catch (e) {
        throw toApiError(e)
      }
      if (!res.ok) throw await failure(res)
      const body = (await res.json()) as { id: number | string; name: string; pages: PageSize[]; sha256: string }
      return { id: String(body.id), name: body.name, pages: body.pages, sha256: body.sha256 }
    },
    /**
     * zip downloads flows as one archive (their current PDFs and evidence
     * reports): GET /files/flows/{id}/zip, or /files/flows/zip?ids=… for
     * several. Returns null when the server has no zip endpoint yet (its SPA
     * fallback answers with the page).
     */
    async zip(flowIDs: string[]): Promise<{ data: Blob; fileName: string } | null> {
      const url =
        flowIDs.length === 1
          ? `/files/flows/${encodeURIComponent(flowIDs[0]!)}/zip`
          : `/files/flows/zip?ids=${flowIDs.map(encodeURIComponent).join(',')}`
      let res: Response
      try {
        res = await doFetch(url, { headers: auth() })
      } catch (e) {
        throw toApiError(e)
      }
      if (!res.ok) throw await failure(res)
      if (!(res.headers.get('Content-Type') ?? '').includes('zip')) return null
      return { data: await res.blob(), fileName: dispositionName(res.headers.get('Content-Disposition')) ?? '合同.zip' }
    },
    /**
     * verify sends a PDF to POST /files/verify (with the token when signed
     * in, so the report names the viewer's flow the file belongs to).
     */
    async verify(file: Blob, fileName: string): Promise<Verification> {
      const form = new FormData()
      form.append('file', file, fileName)
      let res: Response
      try {
        res = await doFetch('/files/verify', { method: 'POST', headers: auth(), body: form })
      } catch (e) {
        throw toApiError(e)
      }
      if (!res.ok) throw await failure(res)
      return (await res.json()) as Verification
    },
    /**
     * uploadCertDocument sends one application document of a certification
     * order (授权书, 营业执照, 经办人身份证正反面): JPG/PNG, or PDF for the
     * first two, at most 5 MB.
     */
    async uploadCertDocument(orderID: string, kind: string, file: Blob, fileName: string): Promise<{ id: string; kind: string; fileName: string; size: number }> {
      const form = new FormData()
      form.append('file', file, fileName)
      let res: Response
      try {
        res = await doFetch(`/files/enterprise-orders/${encodeURIComponent(orderID)}/documents/${encodeURIComponent(kind)}`, {
          method: 'POST',
          headers: auth(),
          body: form,
        })
      } catch (e) {
        throw toApiError(e)
      }
      if (!res.ok) throw await failure(res)
      const body = (await res.json()) as { id: number | string; kind: string; fileName: string; size: number }
      return { ...body, id: String(body.id) }
    },
    /** pdf reads a document's current revision. */
    async pdf(documentID: string): Promise<ArrayBuffer> {
      let res: Response
      try {
        res = await doFetch(`/files/documents/${encodeURIComponent(documentID)}`, { headers: auth() })
      } catch (e) {
        throw toApiError(e)
      }
      if (!res.ok) throw await failure(res)
      return res.arrayBuffer()
    },
  }
}

export const files = createFiles()

/** dispositionName reads the file name of a Content-Disposition header (filename* first). */
export function dispositionName(header: string | null): string | null {
  if (!header) return null
  const star = /filename\*=UTF-8''([^;]+)/i.exec(header)
  if (star) {
    try {
      return decodeURIComponent(star[1]!.trim())
    } catch {
      // fall through to the plain name
    }
  }
  const plain = /filename="?([^";]+)"?/i.exec(header)
  return plain ? plain[1]!.trim() : null
}

/** saveAs offers bytes to the person as a download. */
export function saveAs(data: BlobPart, fileName: string, type = 'application/pdf'): void {
  const url = URL.createObjectURL(new Blob([data], { type }))
  const a = document.createElement('a')
  a.href = url
  a.download = fileName
  document.body.appendChild(a)
  a.click()
  a.remove()
  setTimeout(() => URL.revokeObjectURL(url), 10_000)
}
