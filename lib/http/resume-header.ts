import type { ServerResponse } from 'node:http';
import { isAdmittedPoint, type ResumePoint } from '../core/resume.js';

/**
 * The response header that tells an event stream's client how it was resumed: `fresh`, `memory`,
 * `store`, `bus` or `reset` (see `ResumeOutcome`). Expose it if your app answers CORS requests.
 */
export const RESUME_HEADER = 'Meridian-Resume';

/** Sets {@link RESUME_HEADER} from an admitted point, while the head is still unsent. */
export function setResumeHeader(response: ServerResponse, point: ResumePoint): void {
  if (isAdmittedPoint(point) && !response.headersSent) response.setHeader(RESUME_HEADER, point.outcome);
}
