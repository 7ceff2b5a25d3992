// Conversions between a rendered page on screen (CSS pixels, origin at the
// page's top-left corner, y downwards) and the server's sign-field
// coordinates (PDF points, origin at the page's lower-left corner, y
// upwards, in the page's displayed — i.e. rotated — size).

export interface Size {
  width: number
  height: number
}

/** A rectangle on a rendered page in CSS pixels. */
export interface ScreenRect {
  left: number
  top: number
  width: number
  height: number
}

/** A rectangle on a page in PDF points from the lower-left corner. */
export interface PdfRect {
  x: number
  y: number
  width: number
  height: number
}

const round2 = (n: number) => Math.round(n * 100) / 100

/** scaleOf is how many CSS pixels one PDF point takes on a page drawn `cssWidth` wide. */
export function scaleOf(page: Size, cssWidth: number): number {
  return cssWidth / page.width
}

/** toPdfRect converts a rectangle drawn on a page `scale` px/pt to PDF points. */
export function toPdfRect(r: ScreenRect, page: Size, scale: number): PdfRect {
  return {
    x: round2(r.left / scale),
    y: round2(page.height - (r.top + r.height) / scale),
    width: round2(r.width / scale),
    height: round2(r.height / scale),
  }
}

/** toScreenRect converts PDF points to a rectangle on a page drawn `scale` px/pt. */
export function toScreenRect(r: PdfRect, page: Size, scale: number): ScreenRect {
  return {
    left: r.x * scale,
    top: (page.height - r.y - r.height) * scale,
    width: r.width * scale,
    height: r.height * scale,
  }
}

/** clampRect moves a rectangle (PDF points) inside the page, shrinking it only when it is larger. */
export function clampRect(r: PdfRect, page: Size): PdfRect {
  const width = Math.min(r.width, page.width)
  const height = Math.min(r.height, page.height)
  return {
    x: round2(Math.min(Math.max(r.x, 0), page.width - width)),
    y: round2(Math.min(Math.max(r.y, 0), page.height - height)),
    width: round2(width),
    height: round2(height),
  }
}

/**
 * placeAt centres a box of `box` points on a tap at (cssX, cssY) on a page
 * drawn `scale` px/pt, kept inside the page.
 */
export function placeAt(cssX: number, cssY: number, box: Size, page: Size, scale: number): PdfRect {
  const cx = cssX / scale
  const cy = page.height - cssY / scale
  return clampRect({ x: cx - box.width / 2, y: cy - box.height / 2, width: box.width, height: box.height }, page)
}

/**
 * sealBox is the size in points a seal image is placed at: a round
 * enterprise seal about 42 mm across (119 pt), a personal seal or signature
 * within 110×55 pt, keeping the image's aspect ratio.
 */
export function sealBox(image: Size, enterprise: boolean): Size {
  const max = enterprise ? { width: 119, height: 119 } : { width: 110, height: 55 }
  const w = image.width > 0 ? image.width : 1
  const h = image.height > 0 ? image.height : 1
  const k = Math.min(max.width / w, max.height / h)
  return { width: round2(w * k), height: round2(h * k) }
}
