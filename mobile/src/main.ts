import { createApp } from 'vue'
import App from './App.vue'
import { router } from './router'
import './styles/base.css'

const app = createApp(App).use(router)
// index.html's static shell stays until the first page's code is in, then
// mounting replaces it: a phone on a slow network never sees it give way
// to an empty page. A failed first navigation is reported by the router;
// the app mounts anyway.
void router
  .isReady()
  .catch(() => {})
  .then(() => app.mount('#app'))
