// Identities the sandboxes accept, for the end-to-end tests: resident ID
// numbers, unified social credit codes and a document image.
import { deflateSync } from 'node:zlib'

/**
 * idNumber is a resident ID number for a region code, a birth date and a
 * sequence number, with its GB 11643 check character.
 */
export function idNumber(seq, region = '110105', birth = '19900101') {
  const first = region + birth + String(seq).padStart(3, '0')
  const w = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
  const sum = [...first].reduce((s, c, i) => s + Number(c) * w[i], 0)
  return first + '10X98765432'[sum % 11]
}

/** A credit code with a correct GB 32100 check character. */
export function creditCode(n) {
  const cs = '0123456789ABCDEFGHJKLMNPQRTUWXY'
  const w = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]
  const body = ('91310000' + String(n).padStart(9, '0')).slice(0, 17)
  let s = 0
  for (let i = 0; i < 17; i++) s += cs.indexOf(body[i]) * w[i]
  return body + cs[(31 - (s % 31)) % 31]
}

/** documentPng is a 400×400 PNG (certification documents need at least 300 pixels). */
export function documentPng() {
  const crc = (buf) => {
    let c = ~0
    for (const b of buf) {
      c ^= b
      for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1))
    }
    return ~c >>> 0
  }
  const chunk = (type, data) => {
    const t = Buffer.concat([Buffer.from(type), data])
    const len = Buffer.alloc(4)
    len.writeUInt32BE(data.length)
    const c = Buffer.alloc(4)
    c.writeUInt32BE(crc(t))
    return Buffer.concat([len, t, c])
  }
  const w = 400
  const ihdr = Buffer.alloc(13)
  ihdr.writeUInt32BE(w, 0)
  ihdr.writeUInt32BE(w, 4)
  ihdr.set([8, 2, 0, 0, 0], 8)
  const row = Buffer.concat([Buffer.from([0]), Buffer.alloc(w * 3, 0xc8)])
  const raw = Buffer.concat(Array.from({ length: w }, () => row))
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))])
}
