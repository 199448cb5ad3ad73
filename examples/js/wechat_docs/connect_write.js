const udp = wx.createUDPSocket()
udp.bind()
udp.connect({
  address: '192.168.193.2',
  port: 8848,
})
udp.write({
  address: '192.168.193.2',
  port: 8848,
  message: 'hello, how are you'
})
