import { describe, expect, it } from 'vitest'
import { toPdfRect, toScreenRect } from './pdfcoords'
import {
  anchorAt,
  clampZoom,
  MAX_CANVAS_PIXELS,
  movePinch,
  renderScale,
  scrollToKeep,
  startPinch,
  ZOOM_MAX,
  ZOOM_MIN,
  zoomIn,
  zoomOut,
} from './pinch'

describe('zoom limits and buttons', () => {
  it('keeps the zoom within the limits, to two decimals', () => {
    expect(clampZoom(1.234)).toBe(1.23)
    expect(clampZoom(9)).toBe(ZOOM_MAX)
    expect(clampZoom(0.1)).toBe(ZOOM_MIN)
    expect(clampZoom(Number.NaN)).toBe(1)
  })

  it('steps by a quarter and stops at the ends', () => {
    expect(zoomIn(1)).toBe(1.25)
    expect(zoomOut(1)).toBe(0.75)
    expect(zoomIn(2.9)).toBe(3)
    expect(zoomIn(3)).toBe(3)
    expect(zoomOut(0.5)).toBe(0.5)
  })
})

describe('pinch', () => {
  const start = startPinch({ x: 100, y: 300 }, { x: 200, y: 300 }, 1)

  it('starts at the fingers’ midpoint and distance', () => {
    expect(start).toEqual({ zoom: 1, dist: 100, focus: { x: 150, y: 300 } })
  })

  it('zooms with the fingers’ distance', () => {
    const m = movePinch(start, { x: 50, y: 300 }, { x: 250, y: 300 })
    expect(m).toEqual({ zoom: 2, scale: 2, focus: { x: 150, y: 300 } })
    expect(movePinch(start, { x: 125, y: 300 }, { x: 200, y: 300 }).zoom).toBe(0.75)
  })

  it('works from any zoom and any direction of the fingers', () => {
    const s = startPinch({ x: 0, y: 0 }, { x: 30, y: 40 }, 1.5) // 50 px apart
    const m = movePinch(s, { x: 0, y: 0 }, { x: 60, y: 80 }) // 100 px
    expect(m.zoom).toBe(3)
    expect(m.scale).toBe(2)
    expect(m.focus).toEqual({ x: 30, y: 40 })
  })

  it('stops at the limits, and the live scale with it', () => {
    const wide = movePinch(start, { x: 0, y: 300 }, { x: 1000, y: 300 })
    expect(wide.zoom).toBe(ZOOM_MAX)
    expect(wide.scale).toBe(ZOOM_MAX)
    const narrow = movePinch(start, { x: 149, y: 300 }, { x: 151, y: 300 })
    expect(narrow.zoom).toBe(ZOOM_MIN)
    expect(narrow.scale).toBe(ZOOM_MIN)
  })

  it('does not zoom when the fingers start together', () => {
    const s = startPinch({ x: 100, y: 100 }, { x: 102, y: 101 }, 1.25)
    expect(movePinch(s, { x: 0, y: 0 }, { x: 300, y: 300 }).zoom).toBe(1.25)
  })

  it('follows the midpoint when both fingers move', () => {
    expect(movePinch(start, { x: 100, y: 340 }, { x: 200, y: 340 }).focus).toEqual({ x: 150, y: 340 })
  })
})

describe('keeping the point under the fingers', () => {
  it('anchors a point as fractions of its page', () => {
    expect(anchorAt(2, { left: 10, top: 100, width: 300, height: 400 }, { x: 160, y: 200 })).toEqual({ page: 2, u: 0.5, v: 0.25 })
    expect(anchorAt(1, { left: 0, top: 0, width: 0, height: 0 }, { x: 5, y: 5 })).toEqual({ page: 1, u: 0, v: 0 })
  })

  it('scrolls so the anchored point comes back under the fingers', () => {
    // A page 300 px wide at zoom 1, pinched at its centre to zoom 2: the page is
    // now 600 px wide from the same top-left, its centre 150 px further right and down.
    const before = { left: 30, top: 100, width: 300, height: 424 }
    const focus = { x: 180, y: 312 }
    const a = anchorAt(1, before, focus)
    const after = { left: 30, top: 100, width: 600, height: 848 }
    expect(scrollToKeep(a, after, focus)).toEqual({ dx: 150, dy: 212 })
    // Once scrolled by that, the point is where it was.
    const scrolled = { ...after, left: after.left - 150, top: after.top - 212 }
    expect(scrollToKeep(a, scrolled, focus)).toEqual({ dx: 0, dy: 0 })
  })

  it('follows fingers that moved during the pinch', () => {
    const a = anchorAt(1, { left: 0, top: 0, width: 300, height: 400 }, { x: 150, y: 200 })
    expect(scrollToKeep(a, { left: 0, top: 0, width: 450, height: 600 }, { x: 100, y: 100 })).toEqual({ dx: 125, dy: 200 })
  })

  it('keeps a placed field on the same spot of the page at any zoom', () => {
    // Fields are kept in PDF points and drawn at the page's scale, so a zoom
    // moves them with the page: the same fraction of the page before and after.
    const page = { width: 595, height: 842 }
    const field = { x: 100, y: 200, width: 110, height: 55 }
    for (const z of [ZOOM_MIN, 1, 1.37, 2, ZOOM_MAX]) {
      const scale = (360 * z) / page.width
      const r = toScreenRect(field, page, scale)
      expect(r.left / (page.width * scale)).toBeCloseTo(100 / 595, 10)
      expect((r.top + r.height) / (page.height * scale)).toBeCloseTo((842 - 200) / 842, 10)
      expect(toPdfRect(r, page, scale)).toEqual(field)
    }
  })
})

describe('canvas size', () => {
  const a4 = { width: 595, height: 842 }

  it('draws at the screen’s resolution', () => {
    expect(renderScale(a4, 0.6, 2)).toBeCloseTo(1.2)
    expect(renderScale(a4, 0.6, 0)).toBeCloseTo(0.6)
    expect(renderScale(a4, 0.6, 0.5)).toBeCloseTo(0.6) // a browser zoomed out still gets 1 px per CSS px
    expect(renderScale(a4, 0.6, 4)).toBeCloseTo(1.8) // at most 3 device px per CSS px
  })

  it('never asks for a canvas larger than the limit', () => {
    // 3× zoom of a 360 px wide phone at devicePixelRatio 3.
    const s = renderScale(a4, (360 * 3) / 595, 3)
    expect(s * a4.width * s * a4.height).toBeLessThanOrEqual(MAX_CANVAS_PIXELS + 1)
    expect(s * a4.width).toBeGreaterThan(360 * 3) // still sharper than 1 px per CSS px
    expect(renderScale({ width: 0, height: 0 }, 2, 1)).toBe(2)
  })
})
