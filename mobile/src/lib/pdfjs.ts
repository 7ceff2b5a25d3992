// pdf.js, loaded on first use only: the library (about 140 KB gzip) and its
// worker (about 380 KB gzip) are separate files that only the pages showing
// a contract ever fetch. The legacy build is used because phone WebViews in
// China lag behind current Chrome (the app targets chrome87 / safari14).
import type { PDFDocumentProxy } from 'pdfjs-dist'

type PdfJs = typeof import('pdfjs-dist')

let loading: Promise<PdfJs> | null = null

/** loadPdfjs imports pdf.js and points it at its worker, once per page. */
export function loadPdfjs(): Promise<PdfJs> {
  loading ??= Promise.all([
    import('pdfjs-dist/legacy/build/pdf.mjs') as Promise<PdfJs>,
    import('pdfjs-dist/legacy/build/pdf.worker.min.mjs?url'),
  ]).then(([lib, worker]) => {
    lib.GlobalWorkerOptions.workerSrc = worker.default
    return lib
  })
  loading.catch(() => {
    loading = null
  })
  return loading
}

/** openPdf parses a PDF's bytes in the worker. */
export async function openPdf(data: ArrayBuffer): Promise<PDFDocumentProxy> {
  const lib = await loadPdfjs()
  // pdf.js takes ownership of (transfers) the buffer: hand it a copy.
  return lib.getDocument({ data: new Uint8Array(data.slice(0)), isEvalSupported: false }).promise
}

export type { PDFDocumentProxy }
