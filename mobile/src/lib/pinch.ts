// Zooming the contract view (components/PdfPages.vue): the zoom buttons'
// steps, the two-finger pinch gesture, keeping the point under the fingers
// in place when the pages are redrawn at the new zoom, and how many pixels a
// page's canvas may take. Zoom 1 fits the page to the container's width.

export const ZOOM_MIN = 0.5
export const ZOOM_MAX = 3
export const ZOOM_STEP = 0.25

export interface Point {
  x: number
  y: number
}

/** A rectangle on screen (client coordinates, CSS px), as getBoundingClientRect gives. */
export interface Box {
  left: number
  top: number
  width: number
  height: number
}

const round2 = (n: number) => Math.round(n * 100) / 100

/** clampZoom keeps a zoom within the limits, to two decimals. */
export function clampZoom(z: number): number {
  if (!Number.isFinite(z)) return 1
  return round2(Math.min(ZOOM_MAX, Math.max(ZOOM_MIN, z)))
}

/** zoomIn and zoomOut are the buttons' steps. */
export const zoomIn = (z: number) => clampZoom(z + ZOOM_STEP)
export const zoomOut = (z: number) => clampZoom(z - ZOOM_STEP)

export const distance = (a: Point, b: Point) => Math.hypot(a.x - b.x, a.y - b.y)
export const midpoint = (a: Point, b: Point): Point => ({ x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 })

/** A pinch under way: where and how far apart the fingers started, at which zoom. */
export interface Pinch {
  zoom: number
  dist: number
  focus: Point
}

/** startPinch begins a pinch with two fingers at a and b on pages shown at zoom. */
export function startPinch(a: Point, b: Point, zoom: number): Pinch {
  return { zoom, dist: distance(a, b), focus: midpoint(a, b) }
}

/** The state of a pinch after the fingers moved to a and b. */
export interface PinchMove {
  /** The zoom the pages will have when the fingers lift (within the limits). */
  zoom: number
  /** The CSS scale of the pages as drawn at the start, to show it meanwhile. */
  scale: number
  /** Where the fingers' midpoint is now. */
  focus: Point
}

/**
 * movePinch follows the fingers: the zoom grows with their distance. Fingers
 * that start (almost) together do not zoom, so a clumsy two-finger tap does
 * not jump.
 */
export function movePinch(p: Pinch, a: Point, b: Point): PinchMove {
  const d = distance(a, b)
  const zoom = p.dist < 8 ? p.zoom : clampZoom((p.zoom * d) / p.dist)
  return { zoom, scale: zoom / p.zoom, focus: midpoint(a, b) }
}

/** An anchor: a point on one page as fractions of its width and height. */
export interface Anchor {
  page: number
  u: number
  v: number
}

/** anchorAt is where point falls on a page shown in box, as fractions (may fall outside 0..1). */
export function anchorAt(page: number, box: Box, point: Point): Anchor {
  return {
    page,
    u: box.width > 0 ? (point.x - box.left) / box.width : 0,
    v: box.height > 0 ? (point.y - box.top) / box.height : 0,
  }
}

/**
 * scrollToKeep is how far to scroll (positive: right / down) so the anchor,
 * on its page now shown in box, comes back under point.
 */
export function scrollToKeep(a: Anchor, box: Box, point: Point): { dx: number; dy: number } {
  return {
    dx: Math.round(box.left + a.u * box.width - point.x),
    dy: Math.round(box.top + a.v * box.height - point.y),
  }
}

/**
 * The most pixels one page's canvas may have: browsers refuse or blank larger
 * canvases (iOS Safari at 16.7 million), and every drawn page holds its
 * pixels in memory; 3× zoom on a 3× screen would be ~30 million for A4.
 */
export const MAX_CANVAS_PIXELS = 8_000_000

/**
 * renderScale is the pdf.js scale (device pixels per PDF point) to draw a
 * page of `size` points at `cssScale` CSS px per point on a screen of
 * devicePixelRatio dpr: sharp on the screen, but within maxPixels (the page
 * is then stretched a little rather than not drawn).
 */
export function renderScale(size: { width: number; height: number }, cssScale: number, dpr: number, maxPixels = MAX_CANVAS_PIXELS): number {
  const want = cssScale * Math.min(Math.max(dpr || 1, 1), 3)
  const area = size.width * size.height
  if (area <= 0) return want
  const cap = Math.sqrt(maxPixels / area)
  return Math.min(want, cap)
}
