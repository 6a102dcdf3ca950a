// Hardhat 2 compiling contracts/ offline with the npm solc-js, at the same version and settings
// as the Python build (both read contracts/compiler.json), so the two give the same bytecode.
const path = require("path");
const { subtask } = require("hardhat/config");
const { TASK_COMPILE_SOLIDITY_GET_SOLC_BUILD } = require("hardhat/builtin-tasks/task-names");
const compiler = require("./contracts/compiler.json");

subtask(TASK_COMPILE_SOLIDITY_GET_SOLC_BUILD, async (args, hre, runSuper) => {
  if (args.solcVersion !== compiler.version) return runSuper();
  const solcJs = require.resolve("solc/soljson.js");
  const longVersion = require("solc").version();
  return { compilerPath: solcJs, isSolcJs: true, version: args.solcVersion, longVersion };
});

module.exports = {
  solidity: { version: compiler.version, settings: compiler.settings },
  paths: {
    sources: path.join(__dirname, "contracts"),
    artifacts: path.join(__dirname, "build", "hardhat", "artifacts"),
    cache: path.join(__dirname, "build", "hardhat", "cache"),
    tests: path.join(__dirname, "tests", "hardhat"),
  },
};
