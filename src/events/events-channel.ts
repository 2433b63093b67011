/** The Redis channel fleet events and job notices travel on, one per BullMQ prefix (one per fleet). */
export function eventsChannel(prefix: string): string {
  return `${prefix}:events`;
}
