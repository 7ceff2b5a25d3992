// Tampered copies of a signed PDF for the 文档验证 e2e: one with a byte
// changed inside the signed byte ranges (a digit of a drawing operator in the
// first page's content stream, so the file still parses and only the
// signatures' digests break), one with an incremental update after the last
// signature that replaces a page's content stream (a change no signature
// covers).

const latin1 = (buf) => Buffer.from(buf).toString('latin1')

/** signedRanges returns every /ByteRange [a b c d] of the file. */
export function signedRanges(pdf) {
  return [...latin1(pdf).matchAll(/\/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]/g)].map((m) => m.slice(1, 5).map(Number))
}

const covered = (ranges, at) => ranges.length > 0 && ranges.every(([a, b, c, d]) => (at >= a && at < a + b) || (at >= c && at < c + d))

/**
 * tamperContent returns a copy of pdf with one digit of a content stream's
 * rectangle operator ("x y w h re") changed: the same length, still a
 * well-formed PDF, but inside every signature's byte range.
 */
export function tamperContent(pdf) {
  const text = latin1(pdf)
  const ranges = signedRanges(pdf)
  for (const m of text.matchAll(/(\d+) (\d+) (\d+) (\d+) re\b/g)) {
    const at = m.index + m[1].length + 1 // first digit of y
    if (!covered(ranges, at)) continue
    const out = Buffer.from(pdf)
    out[at] = '0'.charCodeAt(0) + ((out[at] - 48 + 5) % 10)
    return out
  }
  throw new Error('e2e: no uncompressed content stream inside the signed byte ranges')
}

/**
 * appendContentUpdate returns pdf with an incremental update (new object,
 * xref section, trailer with /Prev) that redefines the first page content
 * stream it finds: the document shown changes after every signature.
 */
export function appendContentUpdate(pdf) {
  const text = latin1(pdf)
  const contents = /\/Contents\s+(\d+)\s+(\d+)\s+R/.exec(text)
  const startxref = /startxref\s+(\d+)\s+%%EOF\s*$/.exec(text)
  const root = [...text.matchAll(/\/Root\s+(\d+\s+\d+\s+R)/g)].pop()
  const size = [...text.matchAll(/\/Size\s+(\d+)/g)].pop()
  if (!contents || !startxref || !root || !size) throw new Error('e2e: cannot find the trailer or a page content stream')
  const [num, gen] = [contents[1], contents[2]]
  const ops = '0.9 0.1 0.1 rg 56 400 480 120 re f\n'
  let add = text.endsWith('\n') ? '' : '\n'
  const objAt = pdf.length + Buffer.byteLength(add, 'latin1')
  add += `${num} ${gen} obj\n<< /Length ${ops.length} >>\nstream\n${ops}endstream\nendobj\n`
  const xrefAt = pdf.length + Buffer.byteLength(add, 'latin1')
  add += `xref\n0 1\n0000000000 65535 f \n${num} 1\n${String(objAt).padStart(10, '0')} ${String(gen).padStart(5, '0')} n \n`
  add += `trailer\n<< /Size ${size[1]} /Root ${root[1]} /Prev ${startxref[1]} >>\nstartxref\n${xrefAt}\n%%EOF\n`
  return Buffer.concat([Buffer.from(pdf), Buffer.from(add, 'latin1')])
}
