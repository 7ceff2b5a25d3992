// Vant's function-style feedback (toast, confirm dialog). Components used in
// templates get their CSS through the resolver; these are called from code,
// so their CSS is imported here.
import { showConfirmDialog, showSuccessToast, showToast } from 'vant'
import 'vant/es/toast/style'
import 'vant/es/dialog/style'

export function toast(message: string): void {
  showToast({ message, wordBreak: 'break-word' })
}

export function toastSuccess(message: string): void {
  showSuccessToast(message)
}

/** confirm asks a yes/no question; resolves true when the person agrees. */
export async function confirm(title: string, message: string, confirmButtonText = '确定'): Promise<boolean> {
  try {
    await showConfirmDialog({ title, message, confirmButtonText, cancelButtonText: '取消' })
    return true
  } catch {
    return false
  }
}
