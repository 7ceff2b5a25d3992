import { describe, expect, it } from 'vitest'
import { safeRedirect } from './redirect'

describe('safeRedirect', () => {
  it.each([
    ['/tasks', '/tasks'],
    ['/user/sessions?x=1#a', '/user/sessions?x=1#a'],
    ['/s/abc', '/s/abc'],
    ['//evil.example/x', '/'],
    ['/\\evil.example', '/'],
    ['https://evil.example/', '/'],
    ['javascript:alert(1)', '/'],
    ['/ok\nSet-Cookie', '/'],
    ['', '/'],
    [undefined, '/'],
    [['/a', '/b'], '/'],
  ])('%j -> %j', (target, want) => {
    expect(safeRedirect(target)).toBe(want)
  })
  it('uses the fallback given', () => {
    expect(safeRedirect(null, '/tasks')).toBe('/tasks')
  })
})
