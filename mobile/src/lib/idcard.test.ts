import { describe, expect, it } from 'vitest'
import { checkIdNumber, checkRealName, idCheckChar } from './idcard'

describe('checkIdNumber', () => {
  it('computes the GB 11643 check character', () => {
    expect(idCheckChar('11010519491231002')).toBe('X')
    expect(idCheckChar('11010519491231003')).toBe('8')
  })
  it.each([
    ['11010519491231002X', null],
    ['11010519491231002x', null],
    [' 110105194912310038 ', null],
    ['', '请输入身份证号'],
    ['1101051949123100', '身份证号应为18位'],
    ['11010519491231A038', '身份证号格式不正确'],
    ['110105194902300030', '身份证号中的出生日期不正确'],
    ['110105299912310038', '身份证号中的出生日期不正确'],
    ['110105194912310039', '身份证号校验位不正确，请核对后重新填写'],
  ])('%s -> %s', (id, want) => {
    expect(checkIdNumber(id)).toBe(want)
  })
})

describe('checkRealName', () => {
  it('needs a name', () => {
    expect(checkRealName('  ')).toBe('请输入姓名')
    expect(checkRealName('王小明')).toBeNull()
  })
})
