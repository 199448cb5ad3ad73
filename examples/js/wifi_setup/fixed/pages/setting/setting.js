// The setting page's Wi-Fi set-up (see ../../../original), fixed for a lossy network.
//
// The original sends the key and each AT command twice, blind, and says nothing: when
// both copies of a command are lost (or arrive before the module has seen the key) the
// module is never configured and the page cannot tell. Waiting for the module's "+ok"
// is not enough either: "+ok" names no command, so a late "+ok" to a retried command
// would be taken as the answer to the next one (the "last sent" bug). So every setting
// is read back: "AT+WSTA" answers "+ok=<ssid>,<key>", which says what it answers.
// Each step is retried every RETRY_MS, TRIES times, then the page reports failure.
const MODULE = { address: '10.10.100.254', port: 48899 }
const KEY = 'www.usr.cn'
const RETRY_MS = 300
const TRIES = 8

Page({
  data: { status: 'idle', loading: false },

  tapName() {
    const acc = this.data.wifi_acc_input
    const mm = this.data.wifi_mm_input
    this.setData({ loading: true, status: 'configuring' })
    this.configure([['WMODE', 'APSTA'], ['WSTA', acc + ',' + mm]])
  },

  configure(settings) {
    const udp = wx.createUDPSocket()
    udp.bind()
    const steps = [{ send: [KEY], done: (text) => text.indexOf(MODULE.address + ',') === 0 }]
    for (const [name, value] of settings) {
      steps.push({
        send: ['AT+' + name + '=' + value + '\r', 'AT+' + name + '\r'],
        done: (text) => text.trim() === '+ok=' + value,
      })
    }
    let step = 0
    let tries = 0
    let timer = 0
    const finish = (status) => {
      clearTimeout(timer)
      udp.close()
      this.setData({ loading: false, status })
    }
    const attempt = () => {
      if (tries === TRIES) return finish('failed')
      tries += 1
      for (const message of steps[step].send) udp.send({ ...MODULE, message })
      timer = setTimeout(attempt, RETRY_MS)
    }
    udp.onMessage((res) => {
      const text = String.fromCharCode.apply(null, new Uint8Array(res.message))
      if (!steps[step].done(text)) return  // an answer to something else, or late
      clearTimeout(timer)
      step += 1
      tries = 0
      if (step === steps.length) return finish('done')
      attempt()
    })
    attempt()
  },
})
