import { readonly, ref, type Ref } from 'vue'

/** The PC layout starts at this width; narrower screens get the phone pages. */
export const DESKTOP_QUERY = '(min-width: 1024px)'

let shared: Ref<boolean> | null = null

/** useDesktop is true while the window is at least 1024px wide. */
export function useDesktop(): Readonly<Ref<boolean>> {
  if (!shared) {
    const mq = window.matchMedia(DESKTOP_QUERY)
    const r = ref(mq.matches)
    mq.addEventListener('change', (e) => {
      r.value = e.matches
    })
    shared = r
  }
  return readonly(shared)
}
