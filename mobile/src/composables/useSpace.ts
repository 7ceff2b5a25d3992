// The session's active space (个人空间 or an enterprise) and the spaces one
// can switch to, shared by the PC top bar and the console.
import { reactive } from 'vue'
import { consoleApi, enterpriseApi, type ActiveSpace } from '../api/enterprise'
import { spaceOptions, type SpaceOption } from '../lib/console'

export const space = reactive<{ active: ActiveSpace | null; options: SpaceOption[]; loaded: boolean }>({
  active: null,
  options: [{ id: null, name: '个人空间', role: null }],
  loaded: false,
})

/** loadSpace reads the active space and the enterprises one belongs to. */
export async function loadSpace(): Promise<void> {
  const [active, my] = await Promise.all([consoleApi.activeSpace(), enterpriseApi.myEnterprises()])
  space.active = active
  space.options = spaceOptions(my)
  space.loaded = true
}

/** switchSpace moves the session to another space. */
export async function switchSpace(enterpriseId: string | null): Promise<ActiveSpace> {
  space.active = await consoleApi.switchSpace(enterpriseId)
  return space.active
}

export function spaceName(): string {
  return space.active?.enterprise?.name ?? '个人空间'
}
