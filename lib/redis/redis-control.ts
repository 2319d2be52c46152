import type { StreamLogger } from '../core/logger.js';
import type { ControlMessage } from '../core/stream-bus.js';

/**
 * What the producing instance does with a message on a stream's control channel: any instance may
 * publish there, so a malformed one (not JSON, no `type`) is logged and dropped, and the stream's
 * handler failing does not reach the subscriber connection.
 */
export function controlListener(
  streamId: string,
  onControl: (message: ControlMessage) => void,
  logger: StreamLogger,
): (raw: string) => void {
  return (raw) => {
    let message: ControlMessage | undefined;
    try {
      message = JSON.parse(raw) as ControlMessage;
    } catch {
      message = undefined;
    }
    if (typeof message?.type !== 'string') {
      return void logger.warn(`Stream ${streamId}: ignored a malformed control message.`);
    }
    try {
      onControl(message);
    } catch (error) {
      logger.error(`Stream ${streamId}: handling a control message failed`, (error as Error).stack);
    }
  };
}
