import { readonly, ref, type Ref } from 'vue'

/** The PC layout starts at this width; narrower screens get the phone pages. */
export const DESKTOP_QUERY = '(min-width: 1024px)'

let shared: Ref<boolean> | null = null

/** useDesktop is true while the window is at least 1024px wide. */
export function useDesktop(): Readonly<Ref<boolean>> {
  if (!shared) {
    const mq = window.matchMedia(DESKTOP_QUERY)
    const r = ref(mq.matches)
    // Switching layouts re-mounts the page (the PC shell and the phone shell
    // are different trees), losing what a form holds. Follow only a width
    // that stays: a passing change (a full-page screenshot, a window being
    // dragged across 1024px) is ignored.
    let settle: ReturnType<typeof setTimeout> | undefined
    mq.addEventListener('change', () => {
      clearTimeout(settle)
      settle = setTimeout(() => {
        r.value = mq.matches
      }, 250)
    })
    shared = r
  }
  return readonly(shared)
}
