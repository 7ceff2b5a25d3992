import { describe, expect, it } from 'vitest'
import { clampRect, placeAt, scaleOf, sealBox, toPdfRect, toScreenRect } from './pdfcoords'

const A4 = { width: 595, height: 842 }

describe('PDF coordinates', () => {
  it('measures y from the bottom of the page', () => {
    // A page drawn 297.5 px wide: 0.5 px per point.
    const scale = scaleOf(A4, 297.5)
    expect(scale).toBe(0.5)
    // A 60×30 px box whose top-left is at (50, 100) px.
    expect(toPdfRect({ left: 50, top: 100, width: 60, height: 30 }, A4, scale)).toEqual({ x: 100, y: 582, width: 120, height: 60 })
  })

  it('round-trips between screen and points', () => {
    const scale = 1.37
    const r = { x: 100, y: 100, width: 120, height: 60 }
    const s = toScreenRect(r, A4, scale)
    expect(s.top).toBeCloseTo((842 - 160) * 1.37)
    expect(toPdfRect(s, A4, scale)).toEqual(r)
  })

  it('centres a tap and keeps the box on the page', () => {
    const scale = 2
    // A tap at (200, 400) px is (100, 642) pt from the lower-left corner.
    expect(placeAt(200, 400, { width: 100, height: 50 }, A4, scale)).toEqual({ x: 50, y: 617, width: 100, height: 50 })
    // Near the lower-right corner: pushed inside.
    expect(placeAt(1188, 1680, { width: 100, height: 50 }, A4, scale)).toEqual({ x: 495, y: 0, width: 100, height: 50 })
    // Near the top-left corner.
    expect(placeAt(0, 0, { width: 100, height: 50 }, A4, scale)).toEqual({ x: 0, y: 792, width: 100, height: 50 })
  })

  it('shrinks only a box larger than the page', () => {
    expect(clampRect({ x: -5, y: 10, width: 700, height: 20 }, A4)).toEqual({ x: 0, y: 10, width: 595, height: 20 })
  })

  it('sizes seals by kind, keeping the aspect ratio', () => {
    expect(sealBox({ width: 315, height: 142 }, false)).toEqual({ width: 110, height: 49.59 })
    expect(sealBox({ width: 400, height: 400 }, true)).toEqual({ width: 119, height: 119 })
    expect(sealBox({ width: 100, height: 200 }, false)).toEqual({ width: 27.5, height: 55 })
  })
})
