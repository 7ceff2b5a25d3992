import { describe, expect, it } from 'vitest'
import { commonName, isPersonal } from './ukey'

describe('certificate subjects as the helper lists them (Go pkix.Name.String)', () => {
  it('reads the common name', () => {
    expect(commonName('SERIALNUMBER=3f2a,CN=王小明,C=CN')).toBe('王小明')
    expect(commonName('CN=北京示例科技有限公司,O=北京示例科技有限公司,C=CN')).toBe('北京示例科技有限公司')
    expect(commonName('O=x')).toBe('O=x')
  })
  it('tells personal certificates from enterprise ones', () => {
    expect(isPersonal('SERIALNUMBER=3f2a,CN=王小明,C=CN')).toBe(true)
    expect(isPersonal('CN=北京示例科技有限公司,O=北京示例科技有限公司,2.5.4.97=#130b,C=CN')).toBe(false)
    expect(isPersonal('SERIALNUMBER=1,CN=x,O=y,C=CN')).toBe(false)
    expect(isPersonal('CN=王小明,C=CN')).toBe(false)
  })
})
