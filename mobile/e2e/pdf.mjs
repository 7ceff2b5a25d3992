// makePdf writes a small valid PDF with the given number of A4 pages, drawn
// with vector graphics only (a title bar, text-like lines and the page number
// as bars), so pdf.js renders it without font files.

/** makePdf returns the bytes of an A4 PDF with `pages` pages. */
export function makePdf(pages = 2) {
  const objects = []
  const add = (body) => {
    objects.push(body)
    return objects.length
  }
  const catalog = add(null)
  const pagesObj = add(null)
  const kids = []
  for (let i = 1; i <= pages; i++) {
    let ops = '0.85 0.1 0.1 RG 2 w 56 770 m 539 770 l S\n0.2 0.2 0.2 rg 56 780 300 24 re f\n'
    for (let y = 740; y > 120; y -= 18) ops += `0.55 0.55 0.6 rg 56 ${y} ${380 + ((y * 7) % 100)} 6 re f\n`
    for (let k = 0; k < i; k++) ops += `0.1 0.3 0.8 rg ${280 + k * 14} 60 8 24 re f\n`
    const content = add(`<< /Length ${ops.length} >>\nstream\n${ops}endstream`)
    kids.push(add(`<< /Type /Page /Parent ${pagesObj} 0 R /MediaBox [0 0 595 842] /Contents ${content} 0 R /Resources << >> >>`))
  }
  objects[catalog - 1] = `<< /Type /Catalog /Pages ${pagesObj} 0 R >>`
  objects[pagesObj - 1] = `<< /Type /Pages /Kids [${kids.map((k) => `${k} 0 R`).join(' ')}] /Count ${kids.length} >>`
  let out = '%PDF-1.4\n%\xe2\xe3\xcf\xd3\n'
  const offsets = []
  objects.forEach((body, i) => {
    offsets.push(Buffer.byteLength(out, 'latin1'))
    out += `${i + 1} 0 obj\n${body}\nendobj\n`
  })
  const xref = Buffer.byteLength(out, 'latin1')
  out += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`
  for (const o of offsets) out += `${String(o).padStart(10, '0')} 00000 n \n`
  out += `trailer\n<< /Size ${objects.length + 1} /Root ${catalog} 0 R >>\nstartxref\n${xref}\n%%EOF\n`
  return Buffer.from(out, 'latin1')
}
