import { describe, expect, it } from 'vitest'
import { checkUpload, contractName, createFiles, dispositionName } from './files'
import { createTokenStore } from './token'

const json = (body: unknown, status: number) => new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } })

describe('file endpoints', () => {
  it('uploads multipart with the bearer token and reads the document', async () => {
    const tokens = createTokenStore(null)
    tokens.set('tok')
    const calls: { url: string; init: RequestInit }[] = []
    const f = (async (url: string, init: RequestInit) => {
      calls.push({ url, init })
      return json({ id: 38654705665, name: '租赁合同', pages: [{ width: 595, height: 842 }], sha256: 'ab' }, 201)
    }) as unknown as typeof fetch
    const doc = await createFiles({ fetch: f, tokens }).upload('7', new Blob(['%PDF']), '租赁合同')
    expect(doc).toEqual({ id: '38654705665', name: '租赁合同', pages: [{ width: 595, height: 842 }], sha256: 'ab' })
    expect(calls[0]!.url).toBe('/files/flows/7/documents')
    expect((calls[0]!.init.headers as Record<string, string>).Authorization).toBe('Bearer tok')
    const body = calls[0]!.init.body as FormData
    expect(body.get('name')).toBe('租赁合同')
    expect(body.get('file')).toBeInstanceOf(Blob)
  })

  it("turns the server's refusal into an ApiError with its message and field", async () => {
    const f = (async () =>
      json({ errors: [{ message: '文件不是 PDF 格式，请上传 PDF 文件', extensions: { code: 'INVALID_ARGUMENT', field: 'file' } }] }, 400)) as unknown as typeof fetch
    await expect(createFiles({ fetch: f, tokens: createTokenStore(null) }).upload('7', new Blob(['x']), 'x')).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      field: 'file',
      message: '文件不是 PDF 格式，请上传 PDF 文件',
    })
  })

  it('asks for one or several zips and notices a server without them', async () => {
    const urls: string[] = []
    const f = (async (url: string) => {
      urls.push(url)
      return url.includes('ids=')
        ? new Response('<html>', { status: 200, headers: { 'Content-Type': 'text/html' } })
        : new Response('PK', { status: 200, headers: { 'Content-Type': 'application/zip', 'Content-Disposition': "attachment; filename=\"a.zip\"; filename*=UTF-8''%E5%90%88%E5%90%8C.zip" } })
    }) as unknown as typeof fetch
    const files = createFiles({ fetch: f, tokens: createTokenStore(null) })
    expect((await files.zip(['1']))?.fileName).toBe('合同.zip')
    expect(await files.zip(['1', '2'])).toBeNull()
    expect(urls).toEqual(['/files/flows/1/zip', '/files/flows/zip?ids=1,2'])
  })

  it('checks files before sending them', () => {
    expect(checkUpload({ name: 'a.docx', size: 10, type: 'application/msword' })).toBe('“a.docx”不是 PDF 文件，请上传 PDF 格式的合同')
    expect(checkUpload({ name: 'a.PDF', size: 0, type: '' })).toBe('“a.PDF”是空文件')
    expect(checkUpload({ name: 'a.pdf', size: 21 << 20, type: 'application/pdf' })).toBe('“a.pdf”超过20MB，请压缩后上传')
    expect(checkUpload({ name: 'a.pdf', size: 100, type: 'application/pdf' })).toBeNull()
    expect(contractName('租赁合同.PDF')).toBe('租赁合同')
    expect(dispositionName('attachment; filename="x.zip"')).toBe('x.zip')
    expect(dispositionName(null)).toBeNull()
  })
})
