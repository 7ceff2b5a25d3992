import { computed, onBeforeUnmount, ref } from 'vue'
import { accountsApi, type SMSPurpose } from '../api/operations'
import { createCountdown, sendCodeLabel } from '../lib/countdown'
import { toast } from '../ui/feedback'

interface SmsCodeCommon {
  /** Checks the phone before sending; returns false to stop (it shows its own message). */
  validate?: () => boolean
  /** Shows a failed send (usually useForm's fail, with the phone field alias). */
  onError: (e: unknown) => void
}

/** Either an accounts SMS code (purpose and phone) or another sender. */
export type SmsCodeOptions = SmsCodeCommon &
  (
    | {
        purpose: SMSPurpose
        /** The phone to send to, or null for CHANGE_PHONE_OLD (the server uses the current one). */
        phone: () => string | null
      }
    | {
        /** Sends the code another way (a signing link's code, the 意愿认证 code). */
        request: () => Promise<{ maskedPhone: string; resendAfterSeconds: number }>
      }
  )

/**
 * useSmsCode drives a 获取验证码 button: it sends the code and then counts
 * down from the server's resendAfterSeconds.
 */
export function useSmsCode(opts: SmsCodeOptions) {
  const remaining = ref(0)
  const sending = ref(false)
  const sent = ref(false)
  const countdown = createCountdown((n) => {
    remaining.value = n
  })
  onBeforeUnmount(() => countdown.stop())

  const label = computed(() => (sending.value ? '发送中…' : sendCodeLabel(remaining.value, sent.value)))
  const disabled = computed(() => sending.value || remaining.value > 0)

  const send = async (): Promise<boolean> => {
    if (disabled.value) return false
    if (opts.validate && !opts.validate()) return false
    sending.value = true
    try {
      const res = 'request' in opts ? await opts.request() : await accountsApi.sendSMSCode(opts.purpose, opts.phone())
      sent.value = true
      countdown.start(res.resendAfterSeconds)
      toast(`验证码已发送至 ${res.maskedPhone}`)
      return true
    } catch (e) {
      opts.onError(e)
      return false
    } finally {
      sending.value = false
    }
  }

  return { label, disabled, sending, remaining, sent, send }
}
