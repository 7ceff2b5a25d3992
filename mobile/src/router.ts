// Routes in history mode: the Go server answers every unknown GET path with
// index.html, so deep links such as /s/abc open the right page. Pages are
// imported lazily so heavy later pages (pdf.js) stay out of the login bundle.
import { shallowReactive, type Component } from 'vue'
import { createRouter, createWebHistory, type RouteRecordRaw } from 'vue-router'
import { isSignedIn } from './auth'
import { tokens } from './api/token'
import { safeRedirect } from './lib/redirect'

export type LayoutName = 'auth' | 'app' | 'bare'
export type TabName = 'tasks' | 'initiate' | 'user'

declare module 'vue-router' {
  interface RouteMeta {
    title: string
    layout: LayoutName
    /** Needs a signed-in user; others are sent to 登录 and brought back. */
    auth?: boolean
    /** 登录/注册/找回密码: a signed-in user goes on to the app. */
    guestOnly?: boolean
    /** Phone tab bar entry this page belongs to (top-level pages only). */
    tab?: TabName
    /** Where the phone nav bar's back arrow leads; none on top-level pages. */
    back?: string
    /** PC: the page uses the full content width (tables, contracts). */
    wide?: boolean
  }
}

export const HOME = '/tasks'

export const routes: RouteRecordRaw[] = [
  { path: '/', redirect: HOME },
  {
    path: '/login',
    name: 'login',
    component: () => import('./pages/LoginPage.vue'),
    meta: { title: '登录', layout: 'auth', guestOnly: true },
  },
  {
    path: '/register',
    name: 'register',
    component: () => import('./pages/RegisterPage.vue'),
    meta: { title: '注册', layout: 'auth', guestOnly: true },
  },
  {
    path: '/reset-password',
    name: 'reset-password',
    component: () => import('./pages/ResetPasswordPage.vue'),
    meta: { title: '找回密码', layout: 'auth' },
  },
  {
    path: '/tasks',
    name: 'tasks',
    component: () => import('./pages/FlowsPage.vue'),
    meta: { title: '文件管理', layout: 'app', auth: true, tab: 'tasks', wide: true },
  },
  {
    path: '/flows/:id',
    name: 'flow',
    component: () => import('./pages/FlowTrailPage.vue'),
    meta: { title: '轨迹', layout: 'app', auth: true, back: '/tasks', wide: true },
  },
  {
    path: '/flows/:id/sign',
    name: 'flow-sign',
    component: () => import('./pages/FlowSignPage.vue'),
    meta: { title: '签署文件', layout: 'app', auth: true, back: '/tasks', wide: true },
  },
  {
    path: '/initiate',
    name: 'initiate',
    component: () => import('./pages/InitiatePage.vue'),
    meta: { title: '发起签约', layout: 'app', auth: true, tab: 'initiate', wide: true },
  },
  {
    path: '/verify',
    name: 'verify',
    component: () => import('./pages/VerifyPage.vue'),
    meta: { title: '文档验证', layout: 'app', auth: true },
  },
  {
    path: '/console',
    name: 'console',
    component: () => import('./pages/ConsolePage.vue'),
    meta: { title: '企业控制台', layout: 'app', auth: true, wide: true },
  },
  {
    path: '/enterprises',
    name: 'enterprises',
    component: () => import('./pages/enterprise/EnterprisesPage.vue'),
    meta: { title: '我的企业', layout: 'app', auth: true, back: '/user' },
  },
  {
    path: '/enterprises/certify',
    name: 'certify-enterprise',
    component: () => import('./pages/enterprise/CertifyPage.vue'),
    meta: { title: '认证企业', layout: 'app', auth: true, back: '/enterprises' },
  },
  {
    path: '/user',
    name: 'user',
    component: () => import('./pages/user/ProfilePage.vue'),
    meta: { title: '用户中心', layout: 'app', auth: true, tab: 'user' },
  },
  {
    path: '/user/password',
    name: 'change-password',
    component: () => import('./pages/user/ChangePasswordPage.vue'),
    meta: { title: '修改登录密码', layout: 'app', auth: true, back: '/user' },
  },
  {
    path: '/user/phone',
    name: 'change-phone',
    component: () => import('./pages/user/ChangePhonePage.vue'),
    meta: { title: '修改手机号', layout: 'app', auth: true, back: '/user' },
  },
  {
    path: '/user/realname',
    name: 'realname',
    component: () => import('./pages/user/RealNamePage.vue'),
    meta: { title: '实名认证', layout: 'app', auth: true, back: '/user' },
  },
  {
    path: '/user/ukey',
    name: 'ukey-bindings',
    component: () => import('./pages/user/UKeyBindPage.vue'),
    meta: { title: '绑定UKey', layout: 'app', auth: true, back: '/user' },
  },
  {
    path: '/user/sessions',
    name: 'sessions',
    component: () => import('./pages/user/SessionsPage.vue'),
    meta: { title: '登录设备', layout: 'app', auth: true, back: '/user' },
  },
  {
    path: '/user/contacts',
    name: 'contacts',
    component: () => import('./pages/user/ContactsPage.vue'),
    meta: { title: '联系人管理', layout: 'app', auth: true, back: '/user', wide: true },
  },
  {
    path: '/user/seals',
    name: 'seals',
    component: () => import('./pages/user/SealsPage.vue'),
    meta: { title: '个人印章', layout: 'app', auth: true, back: '/user' },
  },
  {
    path: '/p/:token',
    name: 'pair-capture',
    component: () => import('./pages/PairCapturePage.vue'),
    meta: { title: '手写签名', layout: 'bare' },
  },
  {
    path: '/s/:code',
    name: 'sms-link',
    component: () => import('./pages/SmsLinkPage.vue'),
    meta: { title: '签署文件', layout: 'bare' },
  },
  {
    path: '/legal/:doc',
    name: 'legal',
    component: () => import('./pages/LegalPage.vue'),
    meta: { title: '协议', layout: 'bare' },
  },
  {
    path: '/:pathMatch(.*)*',
    name: 'not-found',
    component: () => import('./pages/NotFoundPage.vue'),
    meta: { title: '页面不存在', layout: 'bare' },
  },
]

export const router = createRouter({
  history: createWebHistory(),
  routes,
  scrollBehavior: (_to, _from, saved) => saved ?? { top: 0 },
})

const layoutLoaders: Record<LayoutName, () => Promise<{ default: Component }>> = {
  auth: () => import('./layouts/AuthLayout.vue'),
  app: () => import('./layouts/AppLayout.vue'),
  bare: () => import('./layouts/BareLayout.vue'),
}

/** The layouts loaded so far, by name (App.vue renders the route's). */
export const layouts = shallowReactive<Partial<Record<LayoutName, Component>>>({})
const loading = new Map<LayoutName, Promise<void>>()

function loadLayout(name: LayoutName): Promise<void> {
  let p = loading.get(name)
  if (!p) {
    p = layoutLoaders[name]().then((m) => {
      layouts[name] = m.default
    })
    // A failed load is tried again by the next navigation.
    p.catch(() => loading.delete(name))
    loading.set(name, p)
  }
  return p
}

router.beforeEach((to) => {
  if (to.meta.auth && !isSignedIn()) {
    return { name: 'login', query: { redirect: to.fullPath }, replace: true }
  }
  if (to.meta.guestOnly && isSignedIn()) {
    return { path: safeRedirect(to.query.redirect, HOME), replace: true }
  }
  // The layout's code loads alongside the page's.
  if (to.matched.length > 0 && to.meta.layout) void loadLayout(to.meta.layout).catch(() => {})
  return true
})

// A route's layout is in before its navigation ends, like its page: the app
// never renders a route without its layout, so no frame is empty between
// index.html's static shell and the first page, nor between two layouts.
router.beforeResolve(async (to) => {
  if (to.matched.length > 0 && to.meta.layout) await loadLayout(to.meta.layout)
})

router.afterEach((to) => {
  document.title = `${to.meta.title} - 签网 电子合同签署平台`
})

// Signed out elsewhere (logout in another tab, a revoked or expired token):
// leave pages that need a user.
tokens.subscribe((token) => {
  const here = router.currentRoute.value
  if (token === null && here.meta.auth) {
    void router.replace({ name: 'login', query: { redirect: here.fullPath } })
  }
})
