// The mini-program's app: remembers the device the last page talked to.
App({
  globalData: { lastDevice: null },
  onLaunch() {
    console.log('app launched')
  },
})
