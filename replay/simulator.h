// A step-controlled executor of a core program on real buffers: the caller chooses which block takes
// each step (or which block is dispatched, under a co-residency bound), and every task runs the op
// reference of megakernel/op_reference.h. Witness replay drives it along the orders a witness asks
// for; the CPU executor's deterministic mode only lets a seed choose, which cannot force an order.
#pragma once

#include "amk/ir/program.h"
#include "amk/executor/op_reference.h"
#include "amk/replay/interleaving.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace amk::replay {

// One step the simulator took.
struct SimEvent {
  StepKind kind = StepKind::Task;
  uint32_t block = 0;
  uint32_t index = 0; // the instruction (0 for a dispatch)
  // Signal: the counter element's value after the increment. Wait: the value it saw when it passed.
  uint64_t value = 0;
  // Wait: the event of the signal whose increment first brought the element to the threshold, when
  // there is one (none for a threshold of 0): the synchronisation the timeline draws as an arrow.
  std::optional<size_t> enabledBy;
  // Barrier arrival: which barrier of the block (0-based), and whether this arrival completed it.
  uint32_t barrierNumber = 0;
  bool completesBarrier = false;
  std::string error; // Task: the op reference's run-time error (nothing was written then)
};

enum class BlockPhase : uint8_t { NotStarted, Running, Arrived, Finished };

// Why an unfinished block does not move in the current state.
struct BlockPosition {
  uint32_t block = 0;
  BlockPhase phase = BlockPhase::Running;
  uint32_t index = 0;     // its next instruction
  bool atWait = false;    // a wait whose threshold is not met
  bool atBarrier = false; // arrived at a barrier that has not completed
  uint64_t value = 0;     // wait: the counter element's value; barrier: blocks arrived
  uint64_t threshold = 0; // wait: the threshold; barrier: blocks in the grid
  uint32_t barrierNumber = 0;
  // Wait: the unfinished blocks that still hold a signal on the element. Barrier: the blocks that
  // have not arrived.
  std::vector<uint32_t> waitsFor;
};

class Simulator {
public:
  // residentSlots = 0: every block is resident from the start. N > 0: a block runs only after its
  // dispatch, and at most N dispatched blocks are unfinished at a time.
  // WARNING: `program` must outlive the simulator.
  explicit Simulator(const ir::Program &program, uint32_t residentSlots = 0);

  const ir::Program &program() const { return program_; }
  uint32_t blocks() const { return blocks_; }
  uint32_t residentSlots() const { return residentSlots_; }

  // Seeded data so that a changed order shows in the results: every buffer gets floats uniform in
  // [-1, 1) (rounded to the element type), i8 buffers integers in [-127, 127]. Scratch and outputs
  // too: a launch's scratch holds whatever memory held, and zeros would hide a race between tasks
  // that read scratch no task wrote (as minimised schedules do). i32 buffers hold token ids and
  // positions, which must stay valid run-time indices, so they are 0.
  void fillRandom(uint64_t seed);

  BlockPhase phase(uint32_t block) const;
  uint32_t pc(uint32_t block) const { return pc_[block]; }
  bool finished(uint32_t block) const { return phase(block) == BlockPhase::Finished; }
  bool allFinished() const;
  // The block can execute its next instruction now (dispatched, not finished, not arrived at an
  // incomplete barrier, and a wait's threshold is met).
  bool enabled(uint32_t block) const;
  bool canDispatch(uint32_t block) const;
  // Nothing can move (no enabled block, no possible dispatch) and some block is unfinished.
  bool stuck() const;

  // Executes the block's next instruction; the block must be enabled.
  const SimEvent &step(uint32_t block);
  const SimEvent &dispatch(uint32_t block);

  const std::vector<SimEvent> &events() const { return events_; }
  std::vector<BlockPosition> positions() const; // every unfinished block
  uint64_t counterValue(uint32_t counter, int64_t index) const;
  // "ready[1] = 0, done = 3": every counter element, for reports.
  std::string countersText() const;

  std::vector<executor::HostBuffer> &buffers() { return buffers_; }
  const std::vector<executor::HostBuffer> &buffers() const { return buffers_; }

private:
  size_t element(const ir::Instruction &instruction) const;

  const ir::Program &program_;
  uint32_t blocks_;
  uint32_t residentSlots_;
  std::vector<executor::HostBuffer> buffers_;
  std::vector<size_t> counterBase_;
  std::vector<uint64_t> counters_;
  // Per element: (value after, event) of every signal on it, in order, to find which one enabled a wait.
  std::vector<std::vector<std::pair<uint64_t, size_t>>> signalLog_;
  std::vector<uint32_t> pc_;
  std::vector<uint8_t> arrived_;
  std::vector<uint8_t> started_;
  std::vector<uint32_t> barriersPassed_;
  uint32_t arrivedCount_ = 0;
  std::vector<SimEvent> events_;
};

} // namespace amk::replay
