import { describe, expect, it } from 'vitest'
import { isPortrait, lineWidth, smoothSegments, StrokeRecorder } from './sigpad'

describe('StrokeRecorder', () => {
  it('records strokes in bounds with times relative to the start', () => {
    const r = new StrokeRecorder(200, 100, 1000)
    r.begin(-5, 10, 1000)
    r.add(50, 120, 1016)
    r.add(50.5, 120, 1020) // too close: dropped
    r.add(300, 50, 1010) // clock went back: kept, time held
    r.end()
    expect(r.add(1, 1, 2000)).toBeNull()
    expect(r.toJSON()).toEqual({
      width: 200,
      height: 100,
      strokes: [[{ x: 0, y: 10, t: 0 }, { x: 50, y: 100, t: 16 }, { x: 200, y: 50, t: 16 }]],
    })
    expect(r.hasInk).toBe(true)
    r.clear()
    expect(r.hasInk).toBe(false)
    expect(r.pointCount).toBe(0)
  })

  it('keeps pressure only when reported', () => {
    const r = new StrokeRecorder(10, 10)
    expect(r.begin(1, 1, 0, 0.5)).toEqual({ x: 1, y: 1, t: 0, p: 0.5 })
    expect(r.add(5, 5, 3, 0)).toEqual({ x: 5, y: 5, t: 3 })
  })
})

describe('smoothSegments', () => {
  it('draws through midpoints and ends at the last sample', () => {
    const segs = smoothSegments([{ x: 0, y: 0, t: 0 }, { x: 10, y: 0, t: 1 }, { x: 10, y: 10, t: 2 }])
    expect(segs).toHaveLength(2)
    expect(segs[0]).toEqual({ from: { x: 0, y: 0 }, ctrl: { x: 10, y: 0 }, to: { x: 10, y: 5 } })
    expect(segs[1].to).toEqual({ x: 10, y: 10 })
    expect(smoothSegments([{ x: 1, y: 1, t: 0 }])).toEqual([])
  })
})

describe('lineWidth and orientation', () => {
  it('thins fast strokes within bounds', () => {
    expect(lineWidth(0, 4)).toBe(5)
    expect(lineWidth(10, 4)).toBe(2)
    expect(lineWidth(1, 4)).toBeLessThan(lineWidth(0.1, 4))
  })
  it('tells portrait', () => {
    expect(isPortrait(360, 640)).toBe(true)
    expect(isPortrait(640, 360)).toBe(false)
  })
})
