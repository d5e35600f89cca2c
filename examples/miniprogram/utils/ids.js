// IDs for the example pages: userIDs and streamIDs of the characters Duet accepts.
function randomID(prefix) {
  return `${prefix}-${Math.random().toString(36).slice(2, 8)}`;
}

module.exports = { randomID };
