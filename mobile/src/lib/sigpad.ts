// The signature pad's logic, free of the DOM so it can be unit tested:
// collecting pointer samples into strokes (image pixels, milliseconds since
// the pad was shown), light smoothing for drawing, and the stroke JSON the
// server validates (pairing.Strokes: {width, height, strokes: [[{x,y,t,p?}]]}).

export interface Point {
  x: number
  y: number
  t: number
  p?: number
}

export interface StrokeData {
  width: number
  height: number
  strokes: Point[][]
}

/** Samples closer than this (image pixels) to the previous one are dropped. */
export const MIN_DISTANCE = 1.5

export class StrokeRecorder {
  readonly strokes: Point[][] = []
  private current: Point[] | null = null

  constructor(
    public width: number,
    public height: number,
    private readonly start = 0,
  ) {}

  private clamp(x: number, y: number, t: number, p?: number): Point {
    const pt: Point = {
      x: Math.round(Math.min(Math.max(x, 0), this.width) * 10) / 10,
      y: Math.round(Math.min(Math.max(y, 0), this.height) * 10) / 10,
      t: Math.max(0, Math.round(t - this.start)),
    }
    if (p !== undefined && p > 0 && p <= 1) pt.p = Math.round(p * 100) / 100
    return pt
  }

  /** begin starts a stroke at (x, y) at time t (ms, same clock as start). */
  begin(x: number, y: number, t: number, p?: number): Point {
    const pt = this.clamp(x, y, t, p)
    this.current = [pt]
    this.strokes.push(this.current)
    return pt
  }

  /** add appends a sample to the stroke in progress; null when dropped. */
  add(x: number, y: number, t: number, p?: number): Point | null {
    const cur = this.current
    if (!cur) return null
    const pt = this.clamp(x, y, t, p)
    const last = cur[cur.length - 1]
    if (Math.hypot(pt.x - last.x, pt.y - last.y) < MIN_DISTANCE) return null
    if (pt.t < last.t) pt.t = last.t
    cur.push(pt)
    return pt
  }

  end(): void {
    this.current = null
  }

  clear(): void {
    this.strokes.length = 0
    this.current = null
  }

  /** pointCount is the number of samples over all strokes. */
  get pointCount(): number {
    return this.strokes.reduce((n, s) => n + s.length, 0)
  }

  /** hasInk tells whether anything worth submitting was drawn. */
  get hasInk(): boolean {
    return this.pointCount >= 2
  }

  toJSON(): StrokeData {
    return { width: this.width, height: this.height, strokes: this.strokes }
  }
}

/** A quadratic segment: from the previous midpoint, controlled by a sample. */
export interface Segment {
  from: { x: number; y: number }
  ctrl: { x: number; y: number }
  to: { x: number; y: number }
}

/**
 * smoothSegments turns a stroke's samples into quadratic curves through the
 * midpoints of successive samples, which removes the corners a polyline
 * shows at each sample.
 */
export function smoothSegments(pts: readonly Point[]): Segment[] {
  if (pts.length < 2) return []
  const out: Segment[] = []
  let from = { x: pts[0].x, y: pts[0].y }
  for (let i = 1; i < pts.length - 1; i++) {
    const mid = { x: (pts[i].x + pts[i + 1].x) / 2, y: (pts[i].y + pts[i + 1].y) / 2 }
    out.push({ from, ctrl: { x: pts[i].x, y: pts[i].y }, to: mid })
    from = mid
  }
  const last = pts[pts.length - 1]
  out.push({ from, ctrl: from, to: { x: last.x, y: last.y } })
  return out
}

/**
 * lineWidth is the pen width for a segment drawn at speed (px/ms): thinner
 * when fast, like ink; base is the width at rest.
 */
export function lineWidth(speed: number, base: number): number {
  const w = base * (1.25 - Math.min(speed, 3) / 4)
  return Math.max(base * 0.5, Math.min(base * 1.25, w))
}

/** isPortrait tells whether the landscape hint should be shown. */
export function isPortrait(width: number, height: number): boolean {
  return height > width
}
