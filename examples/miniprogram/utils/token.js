// Gets the token04 for a user: from config.tokens, else from config.tokenURL (a token server).
const config = require("../config");

function getToken(userID, roomID) {
  if (config.tokens && config.tokens[userID]) return Promise.resolve(config.tokens[userID]);
  return new Promise((resolve, reject) => {
    wx.request({
      url: config.tokenURL,
      data: { userID, roomID },
      success: (res) => {
        if (res.statusCode === 200 && res.data && res.data.token) resolve(res.data.token);
        else reject(new Error(`token server answered ${res.statusCode}: ${JSON.stringify(res.data)}`));
      },
      fail: (err) => reject(new Error(`token server unreachable: ${err.errMsg}`)),
    });
  });
}

module.exports = { getToken };
